#include "pagekv/sim/workload.h"

#include <limits>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pagekv {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Compile-time: synthesis is constexpr and deterministic.
static_assert(SynthesizeToken(1, 0) == SynthesizeToken(1, 0));
static_assert(SynthesizeToken(1, 0) != SynthesizeToken(2, 0));

Request SegmentsRequest(std::vector<PromptSegment> segments) {
  Request r;
  r.output_tokens = 1;
  r.segments = std::move(segments);
  return r;
}

TEST(SynthesizeTokenTest, IsInRangeAndRepeatable) {
  for (uint64_t c = 0; c < 100; ++c) {
    for (int64_t o = 0; o < 100; ++o) {
      const TokenId t = SynthesizeToken(c, o);
      EXPECT_GE(t, 0);
      EXPECT_EQ(t, SynthesizeToken(c, o));
    }
  }
  EXPECT_GE(SynthesizeToken(~uint64_t{0}, int64_t{1} << 40), 0);
}

TEST(SynthesizeTokenTest, DifferentContentIdsGiveDifferentBlocks) {
  // Small consecutive ids (Mooncake hash ids) and their 16-token blocks.
  std::set<std::vector<TokenId>> blocks;
  for (uint64_t c = 0; c < 20000; ++c) {
    std::vector<TokenId> block;
    for (int64_t o = 0; o < 16; ++o) block.push_back(SynthesizeToken(c, o));
    blocks.insert(block);
  }
  EXPECT_EQ(blocks.size(), 20000u);
}

TEST(SynthesizeTokenTest, TokensWithinAContentAreSpread) {
  std::set<TokenId> tokens;
  for (int64_t o = 0; o < 4096; ++o) tokens.insert(SynthesizeToken(42, o));
  EXPECT_GT(tokens.size(), 4090u);  // 31-bit values: collisions are rare
}

TEST(RequestTest, MaterializeMatchesSynthesizeToken) {
  const Request r = SegmentsRequest({{7, 5}, {9, 3}});
  std::vector<TokenId> out = {-1};  // appends, keeps what was there
  r.MaterializePrompt(&out);
  ASSERT_EQ(out.size(), 9u);
  EXPECT_EQ(out[0], -1);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(out[1 + i], SynthesizeToken(7, i));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(out[6 + i], SynthesizeToken(9, i));
}

TEST(RequestTest, SharedContentIdMeansSharedPrefix) {
  std::vector<TokenId> a, b;
  SegmentsRequest({{5, 512}, {6, 512}}).MaterializePrompt(&a);
  SegmentsRequest({{5, 512}, {6, 100}, {8, 3}}).MaterializePrompt(&b);
  ASSERT_EQ(a.size(), 1024u);
  ASSERT_EQ(b.size(), 615u);
  EXPECT_TRUE(std::equal(b.begin(), b.begin() + 612, a.begin()));
  EXPECT_NE(b[612], a[612]);
}

TEST(RequestTest, ExplicitTokensAreCopied) {
  Request r;
  r.tokens = {3, 1, 4};
  EXPECT_EQ(r.PromptTokens(), 3);
  std::vector<TokenId> out;
  r.MaterializePrompt(&out);
  EXPECT_THAT(out, ElementsAre(3, 1, 4));
}

TEST(RequestTest, PromptTokensSumsSegments) {
  EXPECT_EQ(SegmentsRequest({{1, 512}, {2, 7}}).PromptTokens(), 519);
  EXPECT_EQ(SegmentsRequest({}).PromptTokens(), 0);
}

Workload ThreeRequests() {
  Workload w;
  w.name = "three";
  for (int i = 0; i < 3; ++i) {
    Request r = SegmentsRequest({{static_cast<uint64_t>(i), 100 * (i + 1)}});
    r.id = static_cast<uint64_t>(i);
    r.arrival_s = 10.0 * i;
    r.output_tokens = i + 1;
    w.requests.push_back(r);
  }
  return w;
}

TEST(WorkloadTest, Stats) {
  const WorkloadStats s = ThreeRequests().Stats();
  EXPECT_EQ(s.num_requests, 3);
  EXPECT_EQ(s.prompt_tokens, 600);
  EXPECT_EQ(s.output_tokens, 6);
  EXPECT_EQ(s.max_prompt_tokens, 300);
  EXPECT_DOUBLE_EQ(s.mean_prompt_tokens, 200);
  EXPECT_DOUBLE_EQ(s.mean_output_tokens, 2);
  EXPECT_DOUBLE_EQ(s.duration_s, 20);
  EXPECT_EQ(Workload{}.Stats().num_requests, 0);
  EXPECT_EQ(Workload{}.Stats().duration_s, 0);
}

TEST(WorkloadTest, ValidateAcceptsWellFormed) {
  EXPECT_TRUE(ThreeRequests().Validate().ok());
}

TEST(WorkloadTest, ValidateNamesTheBrokenInvariant) {
  struct Case {
    const char* name;
    void (*mutate)(Workload&);
    const char* expected;
  };
  const Case cases[] = {
      {"id", [](Workload& w) { w.requests[1].id = 5; }, "request 1: id"},
      {"time", [](Workload& w) { w.requests[2].arrival_s = 1; },
       "request 2: arrival_s 1 is earlier"},
      {"nan",
       [](Workload& w) {
         w.requests[0].arrival_s = std::numeric_limits<double>::quiet_NaN();
       },
       "request 0: arrival_s"},
      {"output", [](Workload& w) { w.requests[1].output_tokens = 0; },
       "output_tokens 0"},
      {"priority", [](Workload& w) { w.requests[1].priority = 101; },
       "priority 101"},
      {"both", [](Workload& w) { w.requests[0].tokens = {1}; },
       "exactly one of"},
      {"neither", [](Workload& w) { w.requests[0].segments.clear(); },
       "exactly one of"},
      {"empty segment",
       [](Workload& w) { w.requests[0].segments[0].num_tokens = 0; },
       "has 0 tokens"},
  };
  for (const Case& c : cases) {
    Workload w = ThreeRequests();
    c.mutate(w);
    const absl::Status s = w.Validate();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.expected)) << c.name;
  }
}

TEST(WorkloadOptionsTest, WindowShiftsScalesAndRenumbers) {
  WorkloadOptions options;
  options.start_s = 5;
  options.end_s = 25;
  options.rate_scale = 2;
  absl::StatusOr<Workload> w = ApplyWorkloadOptions(ThreeRequests(), options);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->requests.size(), 2u);
  EXPECT_EQ(w->requests[0].id, 0u);
  EXPECT_EQ(w->requests[1].id, 1u);
  EXPECT_DOUBLE_EQ(w->requests[0].arrival_s, 2.5);  // (10 - 5) / 2
  EXPECT_DOUBLE_EQ(w->requests[1].arrival_s, 7.5);  // (20 - 5) / 2
  EXPECT_EQ(w->requests[0].PromptTokens(), 200);
  EXPECT_TRUE(w->Validate().ok());
}

TEST(WorkloadOptionsTest, EndIsExclusiveAndMaxRequestsCaps) {
  WorkloadOptions options;
  options.end_s = 20;
  absl::StatusOr<Workload> w = ApplyWorkloadOptions(ThreeRequests(), options);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->requests.size(), 2u);
  options = {};
  options.max_requests = 1;
  w = ApplyWorkloadOptions(ThreeRequests(), options);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->requests.size(), 1u);
  w = ApplyWorkloadOptions(ThreeRequests(), {});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->requests.size(), 3u);
}

TEST(WorkloadOptionsTest, EmptySelectionIsAnError) {
  WorkloadOptions options;
  options.start_s = 100;
  const absl::Status s =
      ApplyWorkloadOptions(ThreeRequests(), options).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("no request arrives"));
}

TEST(WorkloadOptionsTest, ValidateRejectsBadFields) {
  WorkloadOptions o;
  EXPECT_TRUE(o.Validate().ok());
  o.rate_scale = 0;
  EXPECT_THAT(std::string(o.Validate().message()), HasSubstr("rate_scale"));
  o = {};
  o.start_s = -1;
  EXPECT_THAT(std::string(o.Validate().message()), HasSubstr("start_s"));
  o = {};
  o.start_s = 5;
  o.end_s = 5;
  EXPECT_THAT(std::string(o.Validate().message()), HasSubstr("end_s"));
  o = {};
  o.max_requests = -1;
  EXPECT_THAT(std::string(o.Validate().message()), HasSubstr("max_requests"));
  o.max_requests = -1;
  EXPECT_FALSE(ApplyWorkloadOptions(ThreeRequests(), o).ok());
}

}  // namespace
}  // namespace pagekv
