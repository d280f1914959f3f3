// Tests of the host tier through the KVCacheManager: store policies, loads on
// a prefix hit, the pending/pinned state machine, verification, events,
// failure atomicity, and a randomized run against a model engine that moves
// block contents as the transfer orders say and checks every hit's content.
#include "pagekv/host_tier.h"

#include <algorithm>
#include <map>
#include <random>
#include <variant>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pagekv/kv_cache_manager.h"

namespace pagekv {
namespace {

using ::testing::HasSubstr;
using Kind = TransferOrder::Kind;
using When = TransferOrder::When;

constexpr int32_t kBs = 4;

KVCacheConfig Config(int64_t gpu_blocks, int64_t host_blocks,
                     StorePolicy policy = StorePolicy::kWriteThrough) {
  KVCacheConfig c;
  c.num_blocks = gpu_blocks;
  c.block_size = kBs;
  c.enable_kv_events = true;
  c.host_tier.num_blocks = host_blocks;
  c.host_tier.block_bytes = 1000;
  c.host_tier.store_policy = policy;
  return c;
}

std::unique_ptr<KVCacheManager> Make(const KVCacheConfig& c) {
  auto m = KVCacheManager::Create(c);
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

// `blocks` full blocks of tokens starting at `base`, plus one more token.
std::vector<TokenId> Prompt(int base, int blocks) {
  std::vector<TokenId> p;
  for (int i = 0; i < blocks * kBs + 1; ++i) p.push_back(base + i);
  return p;
}

SeqId AdmitAll(KVCacheManager& m, const std::vector<TokenId>& prompt,
               Admission* out = nullptr) {
  SeqId s = *m.AddSequence(prompt);
  auto a = m.Admit(s, static_cast<int64_t>(prompt.size()));
  EXPECT_TRUE(a.ok()) << a.status();
  if (out != nullptr && a.ok()) *out = *a;
  return s;
}

// Completes every store (with `success`) and load in `orders`.
void CompleteAll(KVCacheManager& m, const std::vector<TransferOrder>& orders,
                 bool success = true) {
  for (const TransferOrder& o : orders) {
    absl::Status s = o.kind == Kind::kStore
                         ? m.CompleteStore(o.host_block, success)
                         : m.CompleteLoad(o.host_block);
    EXPECT_TRUE(s.ok()) << s;
  }
}

// Fills the GPU pool with unrelated blocks so every cached block is evicted.
void Flush(KVCacheManager& m, int base) {
  const int blocks = static_cast<int>(m.pool().num_blocks());
  SeqId s = AdmitAll(m, Prompt(base, blocks - 1));
  CompleteAll(m, m.DrainTransfers());
  ASSERT_TRUE(m.Release(s).ok());
}

TEST(HostTierTest, WriteThroughStoresAfterKernelsAndLoadsOnAHostHit) {
  auto m = Make(Config(9, 16));
  SeqId a = AdmitAll(*m, Prompt(100, 3));
  std::vector<TransferOrder> orders = m->DrainTransfers();
  ASSERT_EQ(orders.size(), 3u);
  for (const TransferOrder& o : orders) {
    EXPECT_EQ(o.kind, Kind::kStore);
    EXPECT_EQ(o.when, When::kAfterKernels);
  }
  EXPECT_EQ(orders[0].gpu_block, (*m->BlockTable(a, GroupId(0)))[0]);
  CompleteAll(*m, orders);
  ASSERT_TRUE(m->Release(a).ok());
  Flush(*m, 5000);  // the GPU copies are gone; the host keeps them

  Admission hit;
  SeqId c = AdmitAll(*m, Prompt(100, 3), &hit);
  EXPECT_EQ(hit.hit.num_blocks, 3);
  EXPECT_EQ(hit.hit.num_host_blocks, 3);
  EXPECT_EQ(hit.hit.num_tokens, 12);
  EXPECT_EQ(*m->NumComputedTokens(c), 13);
  orders = m->DrainTransfers();
  ASSERT_EQ(orders.size(), 3u);
  auto table = *m->BlockTable(c, GroupId(0));
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(orders[i].kind, Kind::kLoad);
    EXPECT_EQ(orders[i].when, When::kBeforeKernels);
    EXPECT_EQ(orders[i].gpu_block, table[i]);
  }
  HostTierStats st = m->Stats().host_tier;
  EXPECT_EQ(st.hit_blocks, 3u);
  EXPECT_EQ(st.pinned_blocks, 3u);
  CompleteAll(*m, orders);
  st = m->Stats().host_tier;
  EXPECT_EQ(st.pinned_blocks, 0u);
  EXPECT_EQ(st.loads_completed, 3u);
  EXPECT_EQ(st.bytes_loaded, 3000u);
  EXPECT_TRUE(m->Verify().ok()) << m->Verify();
}

TEST(HostTierTest, MatchPrefixSeesHostHitsWithoutLoading) {
  auto m = Make(Config(9, 16));
  ASSERT_TRUE(m->Release(AdmitAll(*m, Prompt(100, 3))).ok());
  CompleteAll(*m, m->DrainTransfers());
  Flush(*m, 5000);
  PrefixMatch match = m->MatchPrefix(Prompt(100, 3));
  EXPECT_EQ(match.num_blocks, 3);
  EXPECT_EQ(match.num_host_blocks, 3);
  EXPECT_TRUE(m->DrainTransfers().empty());
}

TEST(HostTierTest, PendingStoreIsNotLoadable) {
  auto m = Make(Config(9, 16));
  ASSERT_TRUE(m->Release(AdmitAll(*m, Prompt(100, 3))).ok());
  std::vector<TransferOrder> stores = m->DrainTransfers();
  Flush(*m, 5000);
  EXPECT_EQ(m->MatchPrefix(Prompt(100, 3)).num_blocks, 0);
  EXPECT_EQ(m->Stats().host_tier.pending_blocks, 3u);
  CompleteAll(*m, stores);
  EXPECT_EQ(m->MatchPrefix(Prompt(100, 3)).num_host_blocks, 3);
}

TEST(HostTierTest, FailedStoreLeavesNoTrace) {
  auto m = Make(Config(9, 16));
  ASSERT_TRUE(m->Release(AdmitAll(*m, Prompt(100, 3))).ok());
  m->DrainEvents();
  CompleteAll(*m, m->DrainTransfers(), /*success=*/false);
  EXPECT_TRUE(m->DrainEvents().empty());
  HostTierStats st = m->Stats().host_tier;
  EXPECT_EQ(st.stores_failed, 3u);
  EXPECT_EQ(st.free_blocks, 16u);
  EXPECT_EQ(st.ready_blocks + st.pending_blocks, 0u);
  Flush(*m, 5000);
  EXPECT_EQ(m->MatchPrefix(Prompt(100, 3)).num_blocks, 0);
  EXPECT_TRUE(m->Verify().ok()) << m->Verify();
}

TEST(HostTierTest, EventsNameTheCpuMediumWithFullPayloads) {
  auto m = Make(Config(9, 2));
  ASSERT_TRUE(m->Release(AdmitAll(*m, Prompt(100, 2))).ok());
  m->DrainEvents();
  CompleteAll(*m, m->DrainTransfers());
  std::vector<KVEvent> events = m->DrainEvents();
  ASSERT_EQ(events.size(), 2u);
  const auto& first = std::get<BlockStoredEvent>(events[0]);
  const auto& second = std::get<BlockStoredEvent>(events[1]);
  EXPECT_EQ(first.medium, Medium::kCpu);
  EXPECT_FALSE(first.parent_key.has_value());
  EXPECT_EQ(first.token_ids, std::vector<TokenId>({100, 101, 102, 103}));
  ASSERT_TRUE(second.parent_key.has_value());
  EXPECT_EQ(*second.parent_key, first.block_keys[0]);
  EXPECT_EQ(second.token_ids, std::vector<TokenId>({104, 105, 106, 107}));
  const uint64_t first_key = first.block_keys[0];
  // A third stored block evicts the oldest host block: a CPU removal.
  ASSERT_TRUE(m->Release(AdmitAll(*m, Prompt(900, 1))).ok());
  events = m->DrainEvents();
  const BlockRemovedEvent* removed = nullptr;
  for (const KVEvent& e : events) {
    if (const auto* r = std::get_if<BlockRemovedEvent>(&e)) removed = r;
  }
  ASSERT_NE(removed, nullptr);
  EXPECT_EQ(removed->medium, Medium::kCpu);
  EXPECT_EQ(removed->block_keys[0], first_key);
}

TEST(HostTierTest, LoadingBlocksArePinnedUntilCompleteLoad) {
  // Write-back: stores happen only when the GPU evicts.
  auto m = Make(Config(9, 2, StorePolicy::kWriteBack));
  ASSERT_TRUE(m->Release(AdmitAll(*m, Prompt(300, 2))).ok());
  Flush(*m, 5000);  // evicts both blocks: two stores, completed
  EXPECT_EQ(m->Stats().host_tier.ready_blocks, 2u);
  Admission hit;
  SeqId c = AdmitAll(*m, Prompt(300, 2), &hit);
  ASSERT_EQ(hit.hit.num_host_blocks, 2);
  std::vector<TransferOrder> loads = m->DrainTransfers();
  ASSERT_EQ(loads.size(), 2u);
  // Both host blocks are pinned: the stores of the next evictions find no
  // host block and are dropped.
  ASSERT_TRUE(m->Release(AdmitAll(*m, Prompt(20000, 1))).ok());
  EXPECT_GE(m->Stats().host_tier.stores_dropped, 2u);
  EXPECT_TRUE(m->DrainTransfers().empty());
  EXPECT_EQ(m->MatchPrefix(Prompt(300, 2)).num_blocks, 2);  // GPU now
  CompleteAll(*m, loads);
  EXPECT_EQ(m->Stats().host_tier.pinned_blocks, 0u);
  ASSERT_TRUE(m->Release(AdmitAll(*m, Prompt(30000, 1))).ok());
  EXPECT_FALSE(m->DrainTransfers().empty());  // now stores can evict
  ASSERT_TRUE(m->Release(c).ok());
  EXPECT_TRUE(m->Verify().ok()) << m->Verify();
}

TEST(HostTierTest, WriteBackStoresWhenTheGpuEvicts) {
  auto m = Make(Config(9, 16, StorePolicy::kWriteBack));
  ASSERT_TRUE(m->Release(AdmitAll(*m, Prompt(100, 3))).ok());
  EXPECT_TRUE(m->DrainTransfers().empty());  // nothing evicted yet
  SeqId f = AdmitAll(*m, Prompt(5000, 7));
  std::vector<TransferOrder> stores = m->DrainTransfers();
  ASSERT_EQ(stores.size(), 3u);
  for (const TransferOrder& o : stores) {
    EXPECT_EQ(o.kind, Kind::kStore);
    EXPECT_EQ(o.when, When::kBeforeKernels);  // the block is reused now
  }
  CompleteAll(*m, stores);
  ASSERT_TRUE(m->Release(f).ok());
  EXPECT_EQ(m->MatchPrefix(Prompt(100, 3)).num_host_blocks, 3);
}

TEST(HostTierTest, SelectiveStoresOnTheKthHit) {
  KVCacheConfig c = Config(32, 16, StorePolicy::kWriteThroughSelective);
  c.host_tier.store_hit_threshold = 2;
  auto m = Make(c);
  ASSERT_TRUE(m->Release(AdmitAll(*m, Prompt(100, 2))).ok());
  EXPECT_TRUE(m->DrainTransfers().empty());
  ASSERT_TRUE(m->Release(AdmitAll(*m, Prompt(100, 2))).ok());  // hit 1
  EXPECT_TRUE(m->DrainTransfers().empty());
  ASSERT_TRUE(m->Release(AdmitAll(*m, Prompt(100, 2))).ok());  // hit 2
  std::vector<TransferOrder> stores = m->DrainTransfers();
  EXPECT_EQ(stores.size(), 2u);
  CompleteAll(*m, stores);
  ASSERT_TRUE(m->Release(AdmitAll(*m, Prompt(100, 2))).ok());  // hit 3
  EXPECT_TRUE(m->DrainTransfers().empty());
}

TEST(HostTierTest, AdmissionFilterStoresOnlyKeysLookedUpOften) {
  KVCacheConfig c = Config(32, 16);
  c.host_tier.admission_min_lookups = 2;
  auto m = Make(c);
  ASSERT_TRUE(m->Release(AdmitAll(*m, Prompt(100, 2))).ok());
  EXPECT_TRUE(m->DrainTransfers().empty());
  EXPECT_EQ(m->Stats().host_tier.stores_filtered, 2u);
  // A longer prompt with the same start: its first two keys were looked up
  // twice now, but they hit the GPU; the two new blocks were looked up once.
  std::vector<TokenId> longer = Prompt(100, 4);
  ASSERT_TRUE(m->Release(AdmitAll(*m, longer)).ok());
  EXPECT_TRUE(m->DrainTransfers().empty());
  m->Reset().IgnoreError();
  ASSERT_TRUE(m->Release(AdmitAll(*m, longer)).ok());  // recomputed
  EXPECT_EQ(m->DrainTransfers().size(), 4u);
}

uint64_t ConstantHash(const TokenId*, size_t, uint64_t) { return 7; }

TEST(HostTierTest, HostHitIsVerifiedAgainstTokens) {
  KVCacheConfig c = Config(9, 16);
  c.block_hash_fn = &ConstantHash;  // every chain of a length collides
  auto m = Make(c);
  ASSERT_TRUE(m->Release(AdmitAll(*m, Prompt(100, 3))).ok());
  CompleteAll(*m, m->DrainTransfers());
  Flush(*m, 5000);
  CompleteAll(*m, m->DrainTransfers());
  EXPECT_EQ(m->MatchPrefix(Prompt(200, 3)).num_blocks, 0);
  EXPECT_EQ(m->Stats().host_tier.hit_blocks, 0u);
}

TEST(HostTierTest, FailedAdmissionChangesNothing) {
  auto m = Make(Config(9, 16));
  ASSERT_TRUE(m->Release(AdmitAll(*m, Prompt(100, 3))).ok());
  CompleteAll(*m, m->DrainTransfers());
  Flush(*m, 5000);
  CompleteAll(*m, m->DrainTransfers());
  SeqId hog = AdmitAll(*m, Prompt(9000, 5));  // 6 of 8 blocks in use
  CompleteAll(*m, m->DrainTransfers());
  const KVCacheStats before = m->Stats();
  SeqId s = *m->AddSequence(Prompt(100, 3));
  auto a = m->Admit(s, 13);  // 3 loaded + 1 new block > 2 available
  EXPECT_EQ(a.status().code(), absl::StatusCode::kResourceExhausted);
  const KVCacheStats after = m->Stats();
  EXPECT_EQ(after.host_tier.pinned_blocks, before.host_tier.pinned_blocks);
  EXPECT_EQ(after.host_tier.loads_issued, before.host_tier.loads_issued);
  EXPECT_EQ(after.host_tier.hit_blocks, before.host_tier.hit_blocks);
  EXPECT_EQ(after.free_blocks, before.free_blocks);
  EXPECT_TRUE(m->DrainTransfers().empty());
  EXPECT_TRUE(m->Verify().ok()) << m->Verify();
  ASSERT_TRUE(m->Release(hog).ok());
  EXPECT_TRUE(m->Admit(s, 13).ok());
}

TEST(HostTierTest, MisusedCompletionsAreRefusedAndChangeNothing) {
  auto m = Make(Config(9, 4));
  EXPECT_EQ(m->CompleteLoad(1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(m->CompleteStore(1, true).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(m->CompleteStore(99, true).code(),
            absl::StatusCode::kFailedPrecondition);
  SeqId a = AdmitAll(*m, Prompt(100, 1));
  std::vector<TransferOrder> stores = m->DrainTransfers();
  ASSERT_EQ(stores.size(), 1u);
  EXPECT_EQ(m->CompleteLoad(stores[0].host_block).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(m->Release(a).ok());
  EXPECT_EQ(m->Reset().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(m->CompleteStore(stores[0].host_block, true).ok());
  EXPECT_EQ(m->CompleteStore(stores[0].host_block, true).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(m->Reset().ok());
  EXPECT_EQ(m->Stats().host_tier.free_blocks, 4u);
  EXPECT_TRUE(m->Verify().ok()) << m->Verify();
}

TEST(HostTierTest, ImportedBlockFromBelowIsHitAfterItsStoreCompletes) {
  auto m = Make(Config(9, 8));
  std::vector<TokenId> prompt = Prompt(100, 2);
  auto h1 = m->ImportHostBlock(absl::MakeConstSpan(prompt).first(4));
  ASSERT_TRUE(h1.ok()) << h1.status();
  auto h2 = m->ImportHostBlock(absl::MakeConstSpan(prompt).first(8));
  ASSERT_TRUE(h2.ok()) << h2.status();
  EXPECT_EQ(
      m->ImportHostBlock(absl::MakeConstSpan(prompt).first(8)).status().code(),
      absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(
      m->ImportHostBlock(absl::MakeConstSpan(prompt).first(5)).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(m->DrainTransfers().empty());  // the payload comes from below
  EXPECT_EQ(m->MatchPrefix(prompt).num_blocks, 0);
  ASSERT_TRUE(m->CompleteStore(*h1, true).ok());
  ASSERT_TRUE(m->CompleteStore(*h2, true).ok());
  EXPECT_EQ(m->MatchPrefix(prompt).num_host_blocks, 2);
  EXPECT_EQ(m->Stats().host_tier.imports, 2u);
}

TEST(HostTierTest, ConfigErrorsNameTheField) {
  KVCacheConfig c = Config(9, 0);
  c.host_tier.capacity_bytes = 1 << 20;
  c.host_tier.block_bytes = 0;
  EXPECT_THAT(std::string(c.Validate().message()),
              HasSubstr("host_tier.block_bytes"));
  c = Config(9, 4);
  c.host_tier.eviction_policy = "mru";
  EXPECT_THAT(std::string(c.Validate().message()),
              HasSubstr("host_tier.eviction_policy"));
  c = Config(9, 4);
  c.groups = {KVCacheGroupSpec::SlidingWindow(8)};
  EXPECT_THAT(std::string(c.Validate().message()), HasSubstr("full-attention"));
  c = Config(9, 4);
  c.host_tier.store_hit_threshold = 0;
  EXPECT_THAT(std::string(c.Validate().message()),
              HasSubstr("store_hit_threshold"));
  c = Config(9, 0);
  c.host_tier.capacity_bytes = 10'000;
  c.host_tier.block_bytes = 1000;
  EXPECT_TRUE(c.Validate().ok());
  EXPECT_EQ(c.host_tier.Blocks(), 10);
  EXPECT_EQ(*ParseStorePolicy("write-back"), StorePolicy::kWriteBack);
  EXPECT_THAT(std::string(ParseStorePolicy("lazy").status().message()),
              HasSubstr("write-through-selective"));
}

TEST(HostTierTest, NoTierMeansNoTransfers) {
  KVCacheConfig c = Config(9, 0);
  auto m = Make(c);
  ASSERT_TRUE(m->Release(AdmitAll(*m, Prompt(100, 3))).ok());
  EXPECT_TRUE(m->DrainTransfers().empty());
  EXPECT_EQ(m->CompleteLoad(1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(m->Stats().host_tier.capacity_blocks, 0u);
}

// ---------------------------------------------------------------------------
// A model engine: block contents (the tokens a block's KV was computed for)
// move exactly as the orders say; every hit must carry the prompt's tokens.

class ModelEngine {
 public:
  explicit ModelEngine(KVCacheManager& m) : m_(m) {}

  // Runs the step's orders around the "kernels", which compute every block
  // of `computed` (sequence, first block computed this step).
  void Step(const std::vector<std::pair<SeqId, int64_t>>& computed,
            std::mt19937& rng) {
    std::vector<TransferOrder> orders = m_.DrainTransfers();
    for (const TransferOrder& o : orders) {
      if (o.when != When::kBeforeKernels) continue;
      if (o.kind == Kind::kLoad) {
        gpu_[o.gpu_block.value()] = host_.at(o.host_block);
        loads_.push_back(o.host_block);
      } else {
        staged_[o.host_block] = gpu_[o.gpu_block.value()];
      }
    }
    for (const auto& [seq, first] : computed) {
      auto table = *m_.BlockTable(seq, GroupId(0));
      for (size_t j = static_cast<size_t>(first); j < table.size(); ++j) {
        gpu_[table[j].value()] = Content(seq, j);
      }
    }
    for (const TransferOrder& o : orders) {
      if (o.when == When::kAfterKernels) {
        staged_[o.host_block] = gpu_[o.gpu_block.value()];
      }
    }
    // Complete a random part of the outstanding transfers.
    for (auto it = staged_.begin(); it != staged_.end();) {
      if (rng() % 3 == 0) {
        ++it;
        continue;
      }
      const bool ok = rng() % 5 != 0;
      if (ok) host_[it->first] = it->second;
      ASSERT_TRUE(m_.CompleteStore(it->first, ok).ok());
      it = staged_.erase(it);
    }
    for (size_t i = 0; i < loads_.size();) {
      if (rng() % 2 == 0) {
        ASSERT_TRUE(m_.CompleteLoad(loads_[i]).ok());
        loads_[i] = loads_.back();
        loads_.pop_back();
      } else {
        ++i;
      }
    }
  }

  // Every hit block of `seq` holds the prompt's tokens.
  void CheckHit(SeqId seq, int32_t hit_blocks) {
    auto table = *m_.BlockTable(seq, GroupId(0));
    for (int32_t j = 0; j < hit_blocks; ++j) {
      ASSERT_EQ(gpu_[table[j].value()], Content(seq, j))
          << "sequence " << seq.value() << " block " << j;
    }
  }

  std::map<SeqId, std::vector<TokenId>> prompts;

 private:
  std::vector<TokenId> Content(SeqId seq, size_t j) {
    const std::vector<TokenId>& p = prompts.at(seq);
    const size_t end = std::min(p.size(), (j + 1) * kBs);
    return std::vector<TokenId>(p.begin() + j * kBs, p.begin() + end);
  }

  KVCacheManager& m_;
  std::map<uint32_t, std::vector<TokenId>> gpu_;
  std::map<uint32_t, std::vector<TokenId>> host_;
  std::map<uint32_t, std::vector<TokenId>> staged_;
  std::vector<uint32_t> loads_;
};

class HostTierStressTest
    : public ::testing::TestWithParam<std::tuple<StorePolicy, std::string>> {};

TEST_P(HostTierStressTest, EveryHitCarriesThePromptsKv) {
  KVCacheConfig c = Config(40, 24, std::get<0>(GetParam()));
  c.host_tier.eviction_policy = std::get<1>(GetParam());
  auto m = Make(c);
  ModelEngine engine(*m);
  std::mt19937 rng(11);
  std::vector<SeqId> live;
  uint64_t host_hits = 0;
  for (int step = 0; step < 400; ++step) {
    std::vector<std::pair<SeqId, int64_t>> computed;
    const int admits = static_cast<int>(rng() % 3);
    for (int k = 0; k < admits; ++k) {
      // Prompts share prefixes: one of 6 stems, then a random tail.
      std::vector<TokenId> p;
      const int stem = static_cast<int>(rng() % 6);
      const int len = 2 + static_cast<int>(rng() % 6);
      for (int i = 0; i < len * kBs; ++i) p.push_back(stem * 1000 + i);
      const int tail = 1 + static_cast<int>(rng() % 6);
      for (int i = 0; i < tail; ++i) p.push_back(static_cast<TokenId>(rng()));
      SeqId s = *m->AddSequence(p);
      auto a = m->Admit(s, static_cast<int64_t>(p.size()));
      if (!a.ok()) {
        ASSERT_EQ(a.status().code(), absl::StatusCode::kResourceExhausted);
        ASSERT_TRUE(m->Release(s).ok());
        continue;
      }
      engine.prompts[s] = p;
      live.push_back(s);
      computed.push_back({s, a->hit.num_blocks});
      host_hits += a->hit.num_host_blocks;
    }
    engine.Step(computed, rng);
    for (const auto& [s, hit] : computed) {
      ASSERT_NO_FATAL_FAILURE(engine.CheckHit(s, static_cast<int32_t>(hit)));
    }
    while (live.size() > 3 || (!live.empty() && rng() % 3 == 0)) {
      const size_t i = rng() % live.size();
      ASSERT_TRUE(m->Release(live[i]).ok());
      engine.prompts.erase(live[i]);
      live.erase(live.begin() + static_cast<int64_t>(i));
    }
    ASSERT_TRUE(m->Verify().ok()) << "step " << step << ": " << m->Verify();
  }
  EXPECT_GT(host_hits, 20u);
}

INSTANTIATE_TEST_SUITE_P(
    Policies, HostTierStressTest,
    ::testing::Combine(::testing::Values(StorePolicy::kWriteThrough,
                                         StorePolicy::kWriteThroughSelective,
                                         StorePolicy::kWriteBack),
                       ::testing::Values("lru", "arc", "s3fifo")),
    [](const auto& info) {
      std::string name = std::string(StorePolicyName(std::get<0>(info.param))) +
                         "_" + std::get<1>(info.param);
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

}  // namespace
}  // namespace pagekv
