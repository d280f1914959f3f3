// Randomized stress test of KVCacheManager against the reference model of
// RunStress() (include/pagekv/sim/stress.h): after every operation each live
// sequence reads its own tokens back through its block table, failed
// operations change nothing, and Verify() passes.
#include <iostream>

#include "gtest/gtest.h"
#include "pagekv/sim/stress.h"

namespace pagekv {
namespace {

struct StressParam {
  std::string name;
  std::vector<KVCacheGroupSpec> groups;
  bool prefix_caching;
  std::string policy;
  int64_t num_blocks;
  // Whether hits are possible (a state group that caches nothing rules
  // them out).
  bool expect_hits = true;
};

class ManagerStressTest : public ::testing::TestWithParam<StressParam> {};

TEST_P(ManagerStressTest, RandomOperationsMatchTheReference) {
  const StressParam& p = GetParam();
  StressOptions o;
  o.manager.num_blocks = p.num_blocks;
  o.manager.block_size = 4;
  o.manager.groups = p.groups;
  o.manager.enable_prefix_caching = p.prefix_caching;
  o.manager.eviction_policy = p.policy;
  o.seed = 20261125;
  o.max_ops = 60000;
  auto report = RunStress(o);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_FALSE(report->failure.has_value()) << *report->failure;
  EXPECT_EQ(report->ops, o.max_ops);
  std::cout << "exhausted " << report->exhausted << " hits " << report->hits
            << " forks " << report->forks << " truncates " << report->truncates
            << " decode batches " << report->decode_batches << "\n";
  // The run must have exercised what it claims to.
  EXPECT_GT(report->exhausted, 100);
  EXPECT_GT(report->forks, 100);
  EXPECT_GT(report->truncates, 100);
  EXPECT_GT(report->decode_batches, 100);
  if (p.prefix_caching && p.expect_hits) {
    EXPECT_GT(report->hits, 100);
  }
}

std::vector<StressParam> Params() {
  std::vector<StressParam> params;
  for (const std::string& policy : EvictionPolicyNames()) {
    params.push_back({"full_" + policy,
                      {KVCacheGroupSpec::FullAttention()},
                      true,
                      policy,
                      48});
  }
  params.push_back(
      {"hybrid_window",
       {KVCacheGroupSpec::FullAttention(), KVCacheGroupSpec::SlidingWindow(7)},
       true,
       "lru",
       96});
  params.push_back(
      {"llama4_chunked",
       {KVCacheGroupSpec::FullAttention(), KVCacheGroupSpec::ChunkedLocal(8)},
       true,
       "lru",
       96});
  params.push_back({"state_align",
                    {KVCacheGroupSpec::FullAttention(),
                     KVCacheGroupSpec::State(StateCacheMode::kAlign, 1)},
                    true,
                    "lru",
                    96});
  params.push_back({"state_none",
                    {KVCacheGroupSpec::FullAttention(),
                     KVCacheGroupSpec::State(StateCacheMode::kNone, 2)},
                    true,
                    "lru",
                    64,
                    /*expect_hits=*/false});
  params.push_back(
      {"hybrid_lcm",
       {KVCacheGroupSpec::FullAttention(), KVCacheGroupSpec::SlidingWindow(5),
        KVCacheGroupSpec::ChunkedLocal(12),
        KVCacheGroupSpec::State(StateCacheMode::kAlign, 2, 8)},
       true,
       "leaf-lru",
       160});
  params.push_back({"no_prefix_caching",
                    {KVCacheGroupSpec::FullAttention()},
                    false,
                    "lru",
                    40});
  return params;
}

INSTANTIATE_TEST_SUITE_P(Configs, ManagerStressTest,
                         ::testing::ValuesIn(Params()), [](const auto& info) {
                           std::string n = info.param.name;
                           for (char& c : n) {
                             if (!isalnum(static_cast<unsigned char>(c)))
                               c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace pagekv
