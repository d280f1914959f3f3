// Tests of the eviction policies: each against a plainly written reference
// model over random operations, behaviour tests named for what they pin down,
// the common contract over every registered name, and eviction through a
// BlockPool.
#include "pagekv/eviction_policy.h"

#include <algorithm>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/eviction/arc_policy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pagekv/block_pool.h"

namespace pagekv {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

std::unique_ptr<EvictionPolicy> Make(const std::string& name,
                                     uint32_t num_blocks) {
  auto policy = MakeEvictionPolicy(name);
  EXPECT_TRUE(policy.ok()) << policy.status();
  (*policy)->Init(num_blocks);
  return *std::move(policy);
}

EvictionHints Hints(uint32_t parent = 0,
                    int32_t priority = kDefaultRetentionPriority,
                    int64_t expiry_us = -1, int64_t now_us = 0) {
  EvictionHints hints;
  hints.parent = BlockId(parent);
  hints.priority = priority;
  hints.priority_expiry_us = expiry_us;
  hints.now_us = now_us;
  return hints;
}

std::vector<uint32_t> EvictAll(EvictionPolicy& policy, int64_t now_us = 0) {
  std::vector<uint32_t> order;
  while (policy.size() > 0) {
    order.push_back(policy.PickVictim(now_us).value());
    EXPECT_TRUE(policy.Verify().ok()) << policy.Verify();
  }
  return order;
}

// ---------------------------------------------------------------------------
// Reference models: the same policies written as plainly as possible.

class RefPolicy {
 public:
  virtual ~RefPolicy() = default;
  virtual void OnEvictable(uint32_t id, const EvictionHints& hints) = 0;
  virtual void OnReused(uint32_t id) = 0;
  virtual uint32_t PickVictim(int64_t now_us) = 0;
};

class RefLru : public RefPolicy {
 public:
  void OnEvictable(uint32_t id, const EvictionHints&) override {
    order_.push_back(id);
  }
  void OnReused(uint32_t id) override { order_.remove(id); }
  uint32_t PickVictim(int64_t) override {
    uint32_t id = order_.front();
    order_.pop_front();
    return id;
  }

 private:
  std::list<uint32_t> order_;
};

// The oldest released block among those no evictable block names as parent.
class RefLeafLru : public RefPolicy {
 public:
  void OnEvictable(uint32_t id, const EvictionHints& hints) override {
    blocks_[id] = {hints.parent.value(), seq_++};
  }
  void OnReused(uint32_t id) override { blocks_.erase(id); }
  uint32_t PickVictim(int64_t) override {
    uint32_t best = 0;
    int64_t best_seq = -1;
    for (const auto& [id, block] : blocks_) {
      bool has_child = false;
      for (const auto& [other, b] : blocks_) has_child |= b.parent == id;
      if (!has_child && (best_seq < 0 || block.seq < best_seq)) {
        best = id;
        best_seq = block.seq;
      }
    }
    blocks_.erase(best);
    return best;
  }

 private:
  struct Block {
    uint32_t parent;
    int64_t seq;
  };
  std::map<uint32_t, Block> blocks_;
  int64_t seq_ = 0;
};

// S3-FIFO with the pool adaptation described in s3fifo_policy.h.
class RefS3Fifo : public RefPolicy {
 public:
  explicit RefS3Fifo(uint32_t num_blocks)
      : ghost_capacity_(std::max<uint32_t>(1, num_blocks / 10 * 9)) {}

  void OnEvictable(uint32_t id, const EvictionHints& hints) override {
    parent_[id] = hints.parent.value();
    if (home_[id] == 2) {
      main_.push_back(id);
    } else if (home_[id] == 1) {
      small_.push_back(id);
    } else {
      freq_[id] = 0;
      auto ghost_hit = std::find(ghost_.begin(), ghost_.end(), parent_[id]);
      if (parent_[id] != 0 && ghost_hit != ghost_.end()) {
        ghost_.erase(ghost_hit);
        home_[id] = 2;
        main_.push_back(id);
      } else {
        home_[id] = 1;
        small_.push_back(id);
      }
    }
  }
  void OnReused(uint32_t id) override {
    small_.remove(id);
    main_.remove(id);
    freq_[id] = std::min(freq_[id] + 1, 3);
  }
  uint32_t PickVictim(int64_t) override {
    while (true) {
      size_t size = small_.size() + main_.size();
      if (!small_.empty() && (main_.empty() || small_.size() * 10 >= size)) {
        uint32_t id = small_.front();
        small_.pop_front();
        if (freq_[id] > 0) {
          home_[id] = 2;
          main_.push_back(id);
          continue;
        }
        Evict(id, true);
        return id;
      }
      uint32_t id = main_.front();
      main_.pop_front();
      if (freq_[id] > 0) {
        --freq_[id];
        main_.push_back(id);
        continue;
      }
      Evict(id, false);
      return id;
    }
  }

 private:
  void Evict(uint32_t id, bool from_small) {
    home_[id] = 0;
    freq_[id] = 0;
    ghost_.remove(id);
    if (!from_small || parent_[id] == 0) return;
    ghost_.remove(parent_[id]);
    ghost_.push_back(parent_[id]);
    if (ghost_.size() > ghost_capacity_) ghost_.pop_front();
  }

  size_t ghost_capacity_;
  std::list<uint32_t> small_, main_, ghost_;
  std::map<uint32_t, int> freq_, home_;  // home: 0 none, 1 small, 2 main
  std::map<uint32_t, uint32_t> parent_;
};

// Lowest effective priority first, then oldest release; a priority with an
// expiry counts as the default once now_us reaches the expiry.
class RefPriority : public RefPolicy {
 public:
  void OnEvictable(uint32_t id, const EvictionHints& hints) override {
    blocks_[id] = {hints.priority, hints.priority_expiry_us, seq_++};
  }
  void OnReused(uint32_t id) override { blocks_.erase(id); }
  uint32_t PickVictim(int64_t now_us) override {
    auto effective = [now_us](const Block& b) {
      return b.expiry >= 0 && now_us >= b.expiry ? kDefaultRetentionPriority
                                                 : b.priority;
    };
    auto best = blocks_.begin();
    for (auto it = blocks_.begin(); it != blocks_.end(); ++it) {
      int32_t p = effective(it->second), bp = effective(best->second);
      if (p < bp || (p == bp && it->second.seq < best->second.seq)) best = it;
    }
    uint32_t id = best->first;
    blocks_.erase(best);
    return id;
  }

 private:
  struct Block {
    int32_t priority;
    int64_t expiry;
    int64_t seq;
  };
  std::map<uint32_t, Block> blocks_;
  int64_t seq_ = 0;
};

// ARC with the pool adaptation described in arc_policy.h.
class RefArc : public RefPolicy {
 public:
  explicit RefArc(uint32_t num_blocks)
      : capacity_(num_blocks),
        ghost_capacity_(std::max<uint32_t>(1, num_blocks / 2)) {}

  void OnEvictable(uint32_t id, const EvictionHints& hints) override {
    const uint32_t parent = hints.parent.value();
    parent_[id] = parent;
    if (home_[id] == 2) {
      t2_.push_back(id);
    } else if (home_[id] == 1) {
      t1_.push_back(id);
    } else if (parent != 0 && Has(b1_, parent)) {
      p_ = std::min<int64_t>(
          capacity_, p_ + std::max<int64_t>(1, b2_.size() / b1_.size()));
      b1_.remove(parent);
      home_[id] = 2;
      t2_.push_back(id);
    } else if (parent != 0 && Has(b2_, parent)) {
      p_ = std::max<int64_t>(
          0, p_ - std::max<int64_t>(1, b1_.size() / b2_.size()));
      b2_.remove(parent);
      home_[id] = 2;
      t2_.push_back(id);
    } else {
      home_[id] = 1;
      t1_.push_back(id);
    }
  }
  void OnReused(uint32_t id) override {
    t1_.remove(id);
    t2_.remove(id);
    home_[id] = 2;
  }
  uint32_t PickVictim(int64_t) override {
    const bool from_t1 =
        !t1_.empty() && (t2_.empty() || static_cast<int64_t>(t1_.size()) > p_);
    std::list<uint32_t>& list = from_t1 ? t1_ : t2_;
    const uint32_t id = list.front();
    list.pop_front();
    home_[id] = 0;
    b1_.remove(id);
    b2_.remove(id);
    const uint32_t parent = parent_[id];
    if (parent != 0) {
      std::list<uint32_t>& ghost = from_t1 ? b1_ : b2_;
      b1_.remove(parent);
      b2_.remove(parent);
      ghost.push_back(parent);
      if (ghost.size() > ghost_capacity_) ghost.pop_front();
    }
    return id;
  }

 private:
  static bool Has(const std::list<uint32_t>& l, uint32_t id) {
    return std::find(l.begin(), l.end(), id) != l.end();
  }
  int64_t capacity_;
  size_t ghost_capacity_;
  int64_t p_ = 0;
  std::list<uint32_t> t1_, t2_, b1_, b2_;
  std::map<uint32_t, int> home_;  // 0 none, 1 t1, 2 t2
  std::map<uint32_t, uint32_t> parent_;
};

std::unique_ptr<RefPolicy> MakeRef(const std::string& name,
                                   uint32_t num_blocks) {
  if (name == "lru") return std::make_unique<RefLru>();
  if (name == "leaf-lru") return std::make_unique<RefLeafLru>();
  if (name == "s3fifo") return std::make_unique<RefS3Fifo>(num_blocks);
  if (name == "priority") return std::make_unique<RefPriority>();
  if (name == "arc") return std::make_unique<RefArc>(num_blocks);
  return nullptr;
}

// ---------------------------------------------------------------------------
// Common contract, over every registered name.

class EvictionPolicyContractTest
    : public ::testing::TestWithParam<std::string> {};

TEST_P(EvictionPolicyContractTest, InitEmptiesThePolicy) {
  auto policy = Make(GetParam(), 16);
  EXPECT_EQ(policy->size(), 0u);
  EXPECT_EQ(policy->name(), GetParam());
  policy->OnEvictable(BlockId(3), Hints());
  policy->OnEvictable(BlockId(5), Hints());
  EXPECT_EQ(policy->size(), 2u);
  policy->Init(16);
  EXPECT_EQ(policy->size(), 0u);
  EXPECT_TRUE(policy->Verify().ok()) << policy->Verify();
  policy->OnEvictable(BlockId(3), Hints());  // no longer "already evictable"
  EXPECT_EQ(policy->size(), 1u);
}

TEST_P(EvictionPolicyContractTest, IndependentBlocksGoInReleaseOrder) {
  auto policy = Make(GetParam(), 32);
  std::vector<uint32_t> released = {7, 3, 12, 1, 30, 9};
  for (uint32_t id : released) policy->OnEvictable(BlockId(id), Hints());
  EXPECT_THAT(EvictAll(*policy), ElementsAreArray(released));
}

TEST_P(EvictionPolicyContractTest, ReusedBlockIsNeverPicked) {
  auto policy = Make(GetParam(), 32);
  for (uint32_t id = 1; id <= 10; ++id) {
    policy->OnEvictable(BlockId(id), Hints());
  }
  policy->OnReused(BlockId(4));
  policy->OnReused(BlockId(1));
  EXPECT_EQ(policy->size(), 8u);
  EXPECT_TRUE(policy->Verify().ok()) << policy->Verify();
  std::vector<uint32_t> order = EvictAll(*policy);
  EXPECT_EQ(order.size(), 8u);
  EXPECT_THAT(order, ::testing::Not(::testing::Contains(4u)));
  EXPECT_THAT(order, ::testing::Not(::testing::Contains(1u)));
}

TEST_P(EvictionPolicyContractTest, EvictsEveryBlockExactlyOnce) {
  const uint32_t n = 500;
  auto policy = Make(GetParam(), n + 1);
  std::mt19937 rng(7);
  std::vector<uint32_t> ids(n);
  for (uint32_t i = 0; i < n; ++i) ids[i] = i + 1;
  std::shuffle(ids.begin(), ids.end(), rng);
  for (uint32_t i = 0; i < n; ++i) {
    // Chains of 8, released tail-first, with assorted priorities.
    bool chain_head = i % 8 == 7 || i + 1 == n;
    uint32_t parent = chain_head ? 0 : ids[i + 1];
    policy->OnEvictable(BlockId(ids[i]),
                        Hints(parent, static_cast<int32_t>(ids[i] % 101)));
  }
  std::vector<uint32_t> order = EvictAll(*policy);
  std::sort(order.begin(), order.end());
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(order, ids);
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, EvictionPolicyContractTest,
                         ::testing::ValuesIn(EvictionPolicyNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(EvictionPolicyRegistryTest, KnowsEveryPolicy) {
  EXPECT_THAT(EvictionPolicyNames(),
              ElementsAre("lru", "leaf-lru", "s3fifo", "priority", "arc"));
}

TEST(EvictionPolicyRegistryTest, UnknownNameIsAnErrorNamingTheKnownOnes) {
  auto policy = MakeEvictionPolicy("mru");
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(policy.status().message(), ::testing::HasSubstr("\"mru\""));
  EXPECT_THAT(policy.status().message(), ::testing::HasSubstr("s3fifo"));
}

// ---------------------------------------------------------------------------
// Randomized comparison with the reference models.

class EvictionPolicyReferenceTest
    : public ::testing::TestWithParam<std::string> {};

TEST_P(EvictionPolicyReferenceTest, RandomOperationsMatchTheReference) {
  const uint32_t n = 48;
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    auto policy = Make(GetParam(), n);
    auto ref = MakeRef(GetParam(), n);
    ASSERT_NE(ref, nullptr) << "no reference model for " << GetParam();
    std::mt19937 rng(seed);
    // A fixed random forest over ids 1..n-1 (parent < id), so parent links
    // never form a cycle.
    std::vector<uint32_t> parent(n, 0);
    for (uint32_t id = 2; id < n; ++id) {
      parent[id] = rng() % 3 == 0 ? 0 : 1 + rng() % (id - 1);
    }
    const int32_t priorities[] = {0, 10, kDefaultRetentionPriority, 60, 100};
    std::vector<bool> evictable(n, false);
    int64_t now_us = 0;
    uint32_t picks = 0;
    for (int op = 0; op < 4000; ++op) {
      now_us += rng() % 8;
      uint32_t id = 1 + rng() % (n - 1);
      uint32_t kind = rng() % 10;
      if (kind < 5 && !evictable[id]) {
        EvictionHints hints = Hints(
            parent[id], priorities[rng() % 5],
            rng() % 2 ? -1 : now_us + static_cast<int64_t>(rng() % 120) - 10,
            now_us);
        policy->OnEvictable(BlockId(id), hints);
        ref->OnEvictable(id, hints);
        evictable[id] = true;
      } else if (kind < 7 && evictable[id]) {
        policy->OnReused(BlockId(id));
        ref->OnReused(id);
        evictable[id] = false;
      } else if (kind >= 7 && policy->size() > 0) {
        uint32_t victim = policy->PickVictim(now_us).value();
        ASSERT_EQ(victim, ref->PickVictim(now_us)) << "op " << op;
        ASSERT_TRUE(evictable[victim]);
        evictable[victim] = false;
        ++picks;
      }
      ASSERT_EQ(policy->size(), static_cast<uint32_t>(std::count(
                                    evictable.begin(), evictable.end(), true)));
      absl::Status status = policy->Verify();
      ASSERT_TRUE(status.ok()) << "op " << op << ": " << status;
    }
    EXPECT_GT(picks, 500u);
  }
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, EvictionPolicyReferenceTest,
                         ::testing::ValuesIn(EvictionPolicyNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// ---------------------------------------------------------------------------
// Behaviour.

TEST(LeafLruTest, LeafLruNeverEvictsAParentBeforeItsChildren) {
  auto policy = Make("leaf-lru", 16);
  // A tree released root-first (the worst order for plain LRU):
  //   1 -> 2 -> 3,   1 -> 4
  policy->OnEvictable(BlockId(1), Hints(0));
  policy->OnEvictable(BlockId(2), Hints(1));
  policy->OnEvictable(BlockId(4), Hints(1));
  policy->OnEvictable(BlockId(3), Hints(2));
  EXPECT_THAT(EvictAll(*policy), ElementsAre(4u, 3u, 2u, 1u));
}

TEST(LeafLruTest, PromotedParentKeepsItsReleasePosition) {
  auto policy = Make("leaf-lru", 16);
  // Chains 1 -> 2 and 3 -> 4, parents released first: 1, 3, 2, 4.
  policy->OnEvictable(BlockId(1), Hints(0));
  policy->OnEvictable(BlockId(3), Hints(0));
  policy->OnEvictable(BlockId(2), Hints(1));
  policy->OnEvictable(BlockId(4), Hints(3));
  // After 2 goes, 1 (released first of all) is older than the leaf 4.
  EXPECT_THAT(EvictAll(*policy), ElementsAre(2u, 1u, 4u, 3u));
}

TEST(LeafLruTest, ParentInUseStillCountsItsEvictableChildren) {
  auto policy = Make("leaf-lru", 16);
  policy->OnEvictable(BlockId(2), Hints(1));  // 1 is in use
  policy->OnEvictable(BlockId(1), Hints(0));  // 1 released after its child
  policy->OnReused(BlockId(1));               // and hit again
  EXPECT_TRUE(policy->Verify().ok()) << policy->Verify();
  EXPECT_EQ(policy->PickVictim(0), BlockId(2));
  policy->OnEvictable(BlockId(1), Hints(0));
  EXPECT_EQ(policy->PickVictim(0), BlockId(1));
}

TEST(PriorityTest, PriorityEvictsLowerPriorityFirst) {
  auto policy = Make("priority", 16);
  policy->OnEvictable(BlockId(1), Hints(0, 80));
  policy->OnEvictable(BlockId(2), Hints(0, 10));
  policy->OnEvictable(BlockId(3), Hints(0, kDefaultRetentionPriority));
  policy->OnEvictable(BlockId(4), Hints(0, 10));
  policy->OnEvictable(BlockId(5), Hints(0, 0));
  policy->OnEvictable(BlockId(6), Hints(0, 100));
  EXPECT_THAT(EvictAll(*policy), ElementsAre(5u, 2u, 4u, 3u, 1u, 6u));
}

TEST(PriorityTest, PriorityDecaysAfterExpiry) {
  auto fill = [](EvictionPolicy& policy) {
    policy.OnEvictable(BlockId(1), Hints(0, 90, /*expiry_us=*/100, 0));
    policy.OnEvictable(BlockId(2), Hints(0, kDefaultRetentionPriority, -1, 1));
    policy.OnEvictable(BlockId(3), Hints(0, 10, /*expiry_us=*/50, 2));
  };
  auto before = Make("priority", 16);
  fill(*before);
  EXPECT_THAT(EvictAll(*before, /*now_us=*/49), ElementsAre(3u, 2u, 1u));
  // At 100 both decayed to the default: plain release order.
  auto after = Make("priority", 16);
  fill(*after);
  EXPECT_THAT(EvictAll(*after, /*now_us=*/100), ElementsAre(1u, 2u, 3u));
  // At 50 only block 3 has decayed.
  auto between = Make("priority", 16);
  fill(*between);
  EXPECT_THAT(EvictAll(*between, /*now_us=*/50), ElementsAre(2u, 3u, 1u));
}

TEST(PriorityTest, ExpiryAlreadyPastAtReleaseMeansDefault) {
  auto policy = Make("priority", 16);
  policy->OnEvictable(BlockId(1), Hints(0, kDefaultRetentionPriority));
  policy->OnEvictable(BlockId(2), Hints(0, 0, /*expiry_us=*/5, /*now_us=*/9));
  EXPECT_THAT(EvictAll(*policy, 9), ElementsAre(1u, 2u));
}

// ---------------------------------------------------------------------------
// Through a BlockPool: the pool evicts via the policy and tells a listener.

class RecordingListener : public EvictionListener {
 public:
  void OnBlockEvicted(BlockId block) override {
    evicted.push_back(block.value());
  }
  std::vector<uint32_t> evicted;
};

class EvictionThroughPoolTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EvictionThroughPoolTest, PoolEvictsInTheOrderThePolicyPicks) {
  auto pool = BlockPool::Create(9, *MakeEvictionPolicy(GetParam()));
  ASSERT_TRUE(pool.ok()) << pool.status();
  RecordingListener listener;
  (*pool)->set_eviction_listener(&listener);
  std::vector<BlockId> blocks(8);
  ASSERT_TRUE((*pool)->Allocate(absl::MakeSpan(blocks)).ok());
  // Independent blocks, released in a scrambled order.
  const int order[] = {5, 0, 7, 2, 6, 1, 3, 4};
  std::vector<uint32_t> released;
  for (int i : order) {
    (*pool)->SetKeepsContent(blocks[i], true);
    (*pool)->Release(blocks[i]);
    released.push_back(blocks[i].value());
  }
  std::vector<BlockId> fresh(8);
  ASSERT_TRUE((*pool)->Allocate(absl::MakeSpan(fresh)).ok());
  EXPECT_THAT(listener.evicted, ElementsAreArray(released));
  EXPECT_EQ((*pool)->num_evictions(), 8u);
  EXPECT_TRUE((*pool)->Verify().ok()) << (*pool)->Verify();
}

TEST_P(EvictionThroughPoolTest, ChainReleasedTailFirstIsTrimmedFromTheTail) {
  auto pool = BlockPool::Create(6, *MakeEvictionPolicy(GetParam()));
  ASSERT_TRUE(pool.ok()) << pool.status();
  RecordingListener listener;
  (*pool)->set_eviction_listener(&listener);
  std::vector<BlockId> chain(5);
  ASSERT_TRUE((*pool)->Allocate(absl::MakeSpan(chain)).ok());
  for (BlockId b : chain) (*pool)->SetKeepsContent(b, true);
  for (int i = 4; i >= 0; --i) {
    (*pool)->Release(chain[i], Hints(i == 0 ? 0 : chain[i - 1].value()));
  }
  std::vector<BlockId> fresh(5);
  ASSERT_TRUE((*pool)->Allocate(absl::MakeSpan(fresh)).ok());
  EXPECT_THAT(listener.evicted,
              ElementsAre(chain[4].value(), chain[3].value(), chain[2].value(),
                          chain[1].value(), chain[0].value()));
  EXPECT_TRUE((*pool)->Verify().ok()) << (*pool)->Verify();
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, EvictionThroughPoolTest,
                         ::testing::ValuesIn(EvictionPolicyNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// A working set reused several times, then a one-time scan of many blocks
// through a small pool: returns how many working-set blocks are still cached.
uint32_t WorkingSetLeftAfterScan(const std::string& policy_name) {
  auto created = BlockPool::Create(51, *MakeEvictionPolicy(policy_name));
  EXPECT_TRUE(created.ok()) << created.status();
  BlockPool& pool = **created;
  RecordingListener listener;
  pool.set_eviction_listener(&listener);
  std::vector<BlockId> working(20);
  EXPECT_TRUE(pool.Allocate(absl::MakeSpan(working)).ok());
  for (BlockId b : working) pool.SetKeepsContent(b, true);
  for (BlockId b : working) pool.Release(b);
  for (int round = 0; round < 3; ++round) {
    for (BlockId b : working) pool.Acquire(b);  // prefix hits
    for (BlockId b : working) pool.Release(b);
  }
  for (int i = 0; i < 200; ++i) {  // the scan: each block used once
    BlockId b;
    EXPECT_TRUE(pool.Allocate(absl::MakeSpan(&b, 1)).ok());
    pool.SetKeepsContent(b, true);
    pool.Release(b);
  }
  EXPECT_TRUE(pool.Verify().ok()) << pool.Verify();
  uint32_t left = 0;
  // An evicted id is reused by the scan, so ask the listener, not the state.
  for (BlockId b : working) {
    left += std::find(listener.evicted.begin(), listener.evicted.end(),
                      b.value()) == listener.evicted.end();
  }
  return left;
}

TEST(S3FifoTest, S3FifoResistsAScan) {
  EXPECT_EQ(WorkingSetLeftAfterScan("s3fifo"), 20u);
  EXPECT_EQ(WorkingSetLeftAfterScan("lru"), 0u);  // flushed by the scan
}

TEST(ArcTest, ArcResistsAScan) {
  // The reused working set lives in t2; the scan only churns t1.
  EXPECT_EQ(WorkingSetLeftAfterScan("arc"), 20u);
}

TEST(ArcTest, GhostHitsMoveTheTargetTowardTheListThatLostTheBlock) {
  auto created = MakeEvictionPolicy("arc");
  ASSERT_TRUE(created.ok());
  auto* arc = static_cast<internal::ArcPolicy*>(created->get());
  arc->Init(64);
  // Block 2 (parent 1, in use) is evicted from t1 unused: its parent goes to
  // b1. The prefix comes back: the recomputed child 3 raises the target and
  // is admitted to t2.
  arc->OnEvictable(BlockId(2), Hints(1));
  EXPECT_EQ(arc->PickVictim(0), BlockId(2));
  EXPECT_EQ(arc->target_t1(), 0u);
  arc->OnEvictable(BlockId(3), Hints(1));
  EXPECT_EQ(arc->target_t1(), 1u);
  // 3 is in t2 now: new t1 blocks beyond the target go first.
  arc->OnEvictable(BlockId(10), Hints());
  arc->OnEvictable(BlockId(11), Hints());
  EXPECT_EQ(arc->PickVictim(0), BlockId(10));
  // With t1 at the target (1 block), t2's block 3 goes next; its parent
  // lands in b2, and a ghost hit there lowers the target again.
  EXPECT_EQ(arc->PickVictim(0), BlockId(3));
  arc->OnEvictable(BlockId(4), Hints(1));
  EXPECT_EQ(arc->target_t1(), 0u);
  EXPECT_TRUE(arc->Verify().ok()) << arc->Verify();
}

TEST(S3FifoTest, GhostHitOnParentAdmitsTheRecomputedChildToMain) {
  auto policy = Make("s3fifo", 64);
  // 1 is the parent (in use); 2 is its child, evicted from small unused.
  policy->OnEvictable(BlockId(2), Hints(1));
  EXPECT_EQ(policy->PickVictim(0), BlockId(2));
  // The same prefix comes back: a new block 3 under parent 1 goes to main,
  // so a run of new small blocks is evicted before it.
  policy->OnEvictable(BlockId(3), Hints(1));
  for (uint32_t id = 10; id < 20; ++id) {
    policy->OnEvictable(BlockId(id), Hints());
  }
  EXPECT_EQ(policy->PickVictim(0), BlockId(10));
  EXPECT_TRUE(policy->Verify().ok()) << policy->Verify();
}

// ---------------------------------------------------------------------------
// Misuse fires a check.

struct CheckFired : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void ThrowingHandler(const char*, int, const char*, std::string_view message) {
  throw CheckFired(std::string(message));
}

class EvictionPolicyMisuseTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    previous_ = internal::SetCheckFailureHandler(&ThrowingHandler);
  }
  void TearDown() override { internal::SetCheckFailureHandler(previous_); }
  internal::CheckFailureHandler previous_ = nullptr;
};

TEST_P(EvictionPolicyMisuseTest, DoubleOnEvictableAndBadCallsAreCaught) {
  if (GetParam() == "lru") GTEST_SKIP() << "lru checks only in debug tier";
  auto policy = Make(GetParam(), 8);
  EXPECT_THROW(policy->PickVictim(0), CheckFired);
  policy->OnEvictable(BlockId(1), Hints());
  EXPECT_THROW(policy->OnEvictable(BlockId(1), Hints()), CheckFired);
  EXPECT_THROW(policy->OnReused(BlockId(2)), CheckFired);
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, EvictionPolicyMisuseTest,
                         ::testing::ValuesIn(EvictionPolicyNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(PriorityTest, OutOfRangePriorityIsCaught) {
  auto previous = internal::SetCheckFailureHandler(&ThrowingHandler);
  auto policy = Make("priority", 8);
  EXPECT_THROW(policy->OnEvictable(BlockId(1), Hints(0, 101)), CheckFired);
  EXPECT_THROW(policy->OnEvictable(BlockId(1), Hints(0, -1)), CheckFired);
  internal::SetCheckFailureHandler(previous);
}

}  // namespace
}  // namespace pagekv
