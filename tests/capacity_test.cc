#include "pagekv/cost/capacity.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pagekv {
namespace {

using ::testing::HasSubstr;

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr double kTiB = 1024.0 * kGiB;

ModelSpec Model(const char* name) { return *FindModelPreset(name); }
HardwareSpec Hardware(const char* name) { return *FindHardwarePreset(name); }

TEST(CapacityTest, KvBytesPerTokenOfLlama2_7bIs512KiB) {
  EXPECT_EQ(*KvBytesPerToken(Model("llama-2-7b")), 512 * 1024.0);
  EXPECT_EQ(*KvBytesPerToken(Model("llama-3-70b"), 8), 2.0 * 80 * 1 * 128 * 2);
  EXPECT_FALSE(KvBytesPerToken(Model("llama-2-7b"), 0).ok());
}

TEST(CapacityTest, PagesPerSequenceRoundsUp) {
  EXPECT_EQ(*PagesPerSequence(0, 16), 0);
  EXPECT_EQ(*PagesPerSequence(16, 16), 1);
  EXPECT_EQ(*PagesPerSequence(17, 16), 2);
  EXPECT_THAT(std::string(PagesPerSequence(-1, 16).status().message()),
              HasSubstr("-1"));
  EXPECT_THAT(std::string(PagesPerSequence(10, 0).status().message()),
              HasSubstr("block_size"));
}

TEST(CapacityTest, SixtyFourSequencesOf32kNeedOneTiB) {
  CapacityOptions options;
  options.kv_memory_bytes = 1 * kTiB;
  ModelSpec llama = Model("llama-2-7b");
  llama.max_context = 0;  // plan beyond the trained context
  EXPECT_EQ(*MaxConcurrency(llama, Hardware("h100-sxm"), options, 32768), 64);
  EXPECT_EQ(*MaxContext(llama, Hardware("h100-sxm"), options, 64), 32768);
  EXPECT_EQ(*MaxKvTokens(llama, Hardware("h100-sxm"), options), 64 * 32768);
}

TEST(CapacityTest, Opt13bOnA100_40gbHoldsAboutTwelveThousandTokens) {
  // PagedAttention paper setting: ~26 GB of weights leave ~10 GB of KV at
  // 800 KiB per token (2 * 40 * 5120 * 2 bytes).
  const absl::StatusOr<int64_t> tokens =
      MaxKvTokens(Model("opt-13b"), Hardware("a100-40gb"), CapacityOptions{});
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_GT(*tokens, 12000);
  EXPECT_LT(*tokens, 13500);
  EXPECT_EQ(*tokens % 16, 0);
}

TEST(CapacityTest, BudgetIsMemoryLeftAfterWeightsAtUtilization) {
  CapacityOptions options;
  options.gpu_memory_utilization = 0.5;
  options.activation_reserve_bytes = 1e9;
  EXPECT_DOUBLE_EQ(
      *KvMemoryBudget(Model("llama-3-8b"), Hardware("h100-sxm"), options),
      40e9 - 8.03e9 * 2 - 1e9);
  options.tensor_parallel = 2;
  EXPECT_DOUBLE_EQ(
      *KvMemoryBudget(Model("llama-3-8b"), Hardware("h100-sxm"), options),
      40e9 - 8.03e9 - 1e9);
}

TEST(CapacityTest, WeightsThatDoNotFitAreAnErrorNamingSizes) {
  const absl::StatusOr<int64_t> tokens = MaxKvTokens(
      Model("llama-3-70b"), Hardware("a100-80gb"), CapacityOptions{});
  ASSERT_FALSE(tokens.ok());
  EXPECT_EQ(tokens.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(tokens.status().message()),
              HasSubstr("weights do not fit"));
  EXPECT_THAT(std::string(tokens.status().message()), HasSubstr("llama-3-70b"));
  CapacityOptions tp4;
  tp4.tensor_parallel = 4;
  EXPECT_TRUE(
      MaxKvTokens(Model("llama-3-70b"), Hardware("a100-80gb"), tp4).ok());
}

TEST(CapacityTest, SlidingWindowBoundsPerSequenceMemory) {
  // Mistral-7B and Llama-3-8B store the same 128 KiB per token, but
  // Mistral keeps only the pages of its 4096-token window.
  CapacityOptions options;
  options.kv_memory_bytes = 16 * kGiB;
  const int64_t mistral = *MaxConcurrency(Model("mistral-7b"),
                                          Hardware("h100-sxm"), options, 32768);
  const int64_t llama = *MaxConcurrency(Model("llama-3-8b"),
                                        Hardware("h100-sxm"), options, 32768);
  EXPECT_EQ(llama, 4);  // 16 GiB / (32768 * 128 KiB)
  EXPECT_GT(mistral, 7 * llama);
  // A window-limited sequence can grow to the model's maximum context.
  EXPECT_EQ(*MaxContext(Model("mistral-7b"), Hardware("h100-sxm"), options, 8),
            32768);
}

TEST(CapacityTest, MaxContextIsWholePagesAndInvertsConcurrency) {
  CapacityOptions options;
  options.kv_memory_bytes = 10 * kGiB;
  options.block_size = 32;
  ModelSpec llama = Model("llama-3-8b");
  llama.max_context = 0;
  const int64_t context = *MaxContext(llama, Hardware("h100-sxm"), options, 10);
  EXPECT_EQ(context % 32, 0);
  EXPECT_GE(*MaxConcurrency(llama, Hardware("h100-sxm"), options, context), 10);
  EXPECT_LT(*MaxConcurrency(llama, Hardware("h100-sxm"), options, context + 32),
            10);
}

TEST(CapacityTest, BadOptionsNameTheField) {
  CapacityOptions options;
  options.gpu_memory_utilization = 1.5;
  EXPECT_THAT(std::string(MaxKvTokens(Model("llama-2-7b"), Hardware("h100-sxm"),
                                      options)
                              .status()
                              .message()),
              HasSubstr("'gpu_memory_utilization'"));
  options = CapacityOptions{};
  options.block_size = 0;
  EXPECT_THAT(std::string(MaxKvTokens(Model("llama-2-7b"), Hardware("h100-sxm"),
                                      options)
                              .status()
                              .message()),
              HasSubstr("'block_size'"));
  EXPECT_THAT(
      std::string(MaxConcurrency(Model("llama-2-7b"), Hardware("h100-sxm"),
                                 CapacityOptions{}, 0)
                      .status()
                      .message()),
      HasSubstr("context_tokens"));
  EXPECT_FALSE(
      MaxContext(Model("llama-2-7b"), Hardware("h100-sxm"), {}, 0).ok());
}

TEST(CapacityTest, TooManySequencesForOnePageIsAnError) {
  CapacityOptions options;
  options.kv_memory_bytes = 1 * kGiB;
  EXPECT_EQ(
      MaxContext(Model("llama-2-7b"), Hardware("h100-sxm"), options, 1000000)
          .status()
          .code(),
      absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace pagekv
