#include "pagekv/sim/shared_prefix_workload.h"

#include <cstdint>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pagekv {
namespace {

TEST(SharedPrefixWorkloadTest, GroupsUsersAndQuestionsMultiply) {
  SharedPrefixOptions o;
  o.num_groups = 3;
  o.users_per_group = 4;
  o.questions_per_user = 2;
  o.shared_prefix_tokens = 100;
  o.question_tokens = 10;
  o.output_tokens = 5;
  absl::StatusOr<Workload> w = MakeSharedPrefixWorkload(o);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE(w->Validate().ok());
  ASSERT_EQ(w->requests.size(), 24u);
  std::set<uint64_t> prefixes, questions;
  for (const Request& r : w->requests) {
    ASSERT_EQ(r.segments.size(), 2u);
    EXPECT_EQ(r.segments[0].num_tokens, 100);
    EXPECT_EQ(r.segments[1].num_tokens, 10);
    EXPECT_EQ(r.output_tokens, 5);
    prefixes.insert(r.segments[0].content_id);
    questions.insert(r.segments[1].content_id);
  }
  EXPECT_EQ(prefixes.size(), 3u);    // one shared prefix per group
  EXPECT_EQ(questions.size(), 24u);  // every question unique
}

TEST(SharedPrefixWorkloadTest, SeededAndPoissonAtTheRate) {
  SharedPrefixOptions o;
  o.rate_per_s = 10;
  const Workload a = *MakeSharedPrefixWorkload(o);
  const Workload b = *MakeSharedPrefixWorkload(o);
  ASSERT_EQ(a.requests.size(), 512u);
  for (size_t i = 0; i < a.requests.size(); ++i) {
    EXPECT_EQ(a.requests[i].arrival_s, b.requests[i].arrival_s);
    EXPECT_EQ(a.requests[i].segments[0].content_id,
              b.requests[i].segments[0].content_id);
  }
  const double rate = 511 / a.requests.back().arrival_s;
  EXPECT_NEAR(rate, 10, 1.5);
  o.seed = 2;
  EXPECT_NE(MakeSharedPrefixWorkload(o)->requests.back().arrival_s,
            a.requests.back().arrival_s);
}

TEST(SharedPrefixWorkloadTest, RampRaisesTheRate) {
  SharedPrefixOptions o;
  o.rate_per_s = 20;
  o.ramp_start_rate_per_s = 2;
  const Workload w = *MakeSharedPrefixWorkload(o);
  const size_t n = w.requests.size();
  const double first_half = w.requests[n / 2].arrival_s;
  const double second_half = w.requests[n - 1].arrival_s - first_half;
  EXPECT_GT(first_half, 2 * second_half);
}

TEST(SharedPrefixWorkloadTest, ValidateNamesTheField) {
  SharedPrefixOptions o;
  o.users_per_group = 0;
  EXPECT_THAT(MakeSharedPrefixWorkload(o).status().message(),
              testing::HasSubstr("users_per_group"));
  o = SharedPrefixOptions();
  o.rate_per_s = 0;
  EXPECT_THAT(o.Validate().message(), testing::HasSubstr("rate_per_s"));
  o = SharedPrefixOptions();
  o.num_groups = 100000;
  o.users_per_group = 1000;
  EXPECT_THAT(o.Validate().message(), testing::HasSubstr("requests"));
}

}  // namespace
}  // namespace pagekv
