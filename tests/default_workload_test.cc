#include "pagekv/sim/default_workload.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pagekv {
namespace {

using ::testing::HasSubstr;

bool SameSegments(const std::vector<PromptSegment>& a,
                  const std::vector<PromptSegment>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const PromptSegment& x, const PromptSegment& y) {
                      return x.content_id == y.content_id &&
                             x.num_tokens == y.num_tokens;
                    });
}

bool SameWorkload(const Workload& a, const Workload& b) {
  if (a.requests.size() != b.requests.size()) return false;
  for (size_t i = 0; i < a.requests.size(); ++i) {
    const Request& x = a.requests[i];
    const Request& y = b.requests[i];
    if (x.id != y.id || x.arrival_s != y.arrival_s ||
        x.output_tokens != y.output_tokens || x.priority != y.priority ||
        x.cache_salt != y.cache_salt || x.tokens != y.tokens ||
        !SameSegments(x.segments, y.segments)) {
      return false;
    }
  }
  return true;
}

TEST(DefaultWorkloadTest, SameSeedSameWorkload) {
  absl::StatusOr<Workload> a = MakeDefaultWorkload();
  absl::StatusOr<Workload> b = MakeDefaultWorkload();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(SameWorkload(*a, *b));
  DefaultWorkloadOptions other;
  other.seed = 2;
  absl::StatusOr<Workload> c = MakeDefaultWorkload(other);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(SameWorkload(*a, *c));
}

// Pins the generator: the same figures on every platform and standard
// library. Update them only when the default workload is meant to change.
TEST(DefaultWorkloadTest, GoldenFiguresForSeedOne) {
  absl::StatusOr<Workload> w = MakeDefaultWorkload();
  ASSERT_TRUE(w.ok());
  const WorkloadStats s = w->Stats();
  EXPECT_EQ(s.num_requests, 2000);
  EXPECT_EQ(s.prompt_tokens, 3830295);
  EXPECT_EQ(s.output_tokens, 671231);
}

TEST(DefaultWorkloadTest, IsValidAndSizedAsDocumented) {
  const DefaultWorkloadOptions options;
  absl::StatusOr<Workload> w = MakeDefaultWorkload(options);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->name, "default");
  ASSERT_TRUE(w->Validate().ok()) << w->Validate();
  const WorkloadStats s = w->Stats();
  EXPECT_EQ(s.num_requests, 2000);
  // Poisson at 12/s: ~167 s, a few minutes.
  EXPECT_GT(s.duration_s, 140);
  EXPECT_LT(s.duration_s, 200);
  for (const Request& r : w->requests) {
    EXPECT_LE(r.PromptTokens() + r.output_tokens, options.max_sequence_tokens);
  }
}

TEST(DefaultWorkloadTest, MixesChatAndRagWithSharedPrefixes) {
  const DefaultWorkloadOptions options;
  absl::StatusOr<Workload> w = MakeDefaultWorkload(options);
  ASSERT_TRUE(w.ok());
  int rag = 0, followups = 0;
  int64_t rag_prompt = 0, rag_output = 0, chat_prompt = 0, chat_output = 0;
  absl::flat_hash_map<uint64_t, int> first_segment_uses;
  for (size_t i = 0; i < w->requests.size(); ++i) {
    const Request& r = w->requests[i];
    ++first_segment_uses[r.segments.front().content_id];
    if (r.priority == options.rag_priority) {
      ++rag;
      rag_prompt += r.PromptTokens();
      rag_output += r.output_tokens;
      ASSERT_EQ(r.segments.size(), 3u);
      continue;
    }
    chat_prompt += r.PromptTokens();
    chat_output += r.output_tokens;
    // A follow-up turn extends some earlier request's whole prompt.
    if (r.segments.size() > 2) {
      bool extends = false;
      for (size_t j = 0; j < i && !extends; ++j) {
        const auto& prev = w->requests[j].segments;
        extends = prev.size() + 2 == r.segments.size() &&
                  SameSegments(prev, {r.segments.begin(),
                                      r.segments.begin() +
                                          static_cast<long>(prev.size())});
      }
      EXPECT_TRUE(extends) << "request " << i;
      ++followups;
    }
  }
  const int chat = 2000 - rag;
  EXPECT_NEAR(rag / 2000.0, options.rag_fraction, 0.04);
  EXPECT_GT(followups, chat / 5);
  // Chat: short in, long out. RAG: long in, short out.
  EXPECT_LT(chat_prompt / chat, rag_prompt / rag);
  EXPECT_GT(chat_output / chat, rag_output / rag);
  // System prompts (chat) and the RAG system prompt lead every request.
  EXPECT_EQ(first_segment_uses.size(),
            static_cast<size_t>(options.num_system_prompts + 1));
}

TEST(DefaultWorkloadTest, OptionsAreHonoured) {
  DefaultWorkloadOptions options;
  options.num_requests = 300;
  options.rag_fraction = 0;
  options.followup_fraction = 0;
  options.arrival_rate_per_s = 100;
  absl::StatusOr<Workload> w = MakeDefaultWorkload(options);
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w->requests.size(), 300u);
  EXPECT_LT(w->Stats().duration_s, 6);
  for (const Request& r : w->requests) {
    EXPECT_EQ(r.segments.size(), 2u);  // system prompt + message
    EXPECT_EQ(r.priority, options.chat_priority);
  }
}

TEST(DefaultWorkloadTest, ValidateNamesTheBadField) {
  struct Case {
    void (*mutate)(DefaultWorkloadOptions&);
    const char* field;
  };
  const Case cases[] = {
      {[](DefaultWorkloadOptions& o) { o.num_requests = 0; }, "num_requests"},
      {[](DefaultWorkloadOptions& o) { o.arrival_rate_per_s = 0; },
       "arrival_rate_per_s"},
      {[](DefaultWorkloadOptions& o) { o.rag_fraction = 1.5; }, "rag_fraction"},
      {[](DefaultWorkloadOptions& o) { o.followup_fraction = -0.1; },
       "followup_fraction"},
      {[](DefaultWorkloadOptions& o) { o.num_documents = 0; }, "num_documents"},
      {[](DefaultWorkloadOptions& o) { o.document_min_tokens = 9000; },
       "document_max_tokens"},
      {[](DefaultWorkloadOptions& o) { o.rag_priority = 101; }, "rag_priority"},
      {[](DefaultWorkloadOptions& o) { o.max_sequence_tokens = 4096; },
       "max_sequence_tokens"},
  };
  for (const Case& c : cases) {
    DefaultWorkloadOptions o;
    c.mutate(o);
    const absl::Status s = MakeDefaultWorkload(o).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.field));
  }
  EXPECT_TRUE(DefaultWorkloadOptions{}.Validate().ok());
}

}  // namespace
}  // namespace pagekv
