// Each eviction policy against a plainly written reference model of it, over
// random operations (releases with parents, priorities and expiries, reuses,
// victim picks).
#include <algorithm>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "eviction_test_util.h"
#include "gtest/gtest.h"
#include "pagekv/eviction_policy.h"

namespace pagekv {
namespace {

using ::pagekv::testing::Hints;
using ::pagekv::testing::Make;
using ::pagekv::testing::PolicyCaseName;

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
                         PolicyCaseName);

}  // namespace
}  // namespace pagekv
