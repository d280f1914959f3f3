// KeyTable against std::map under random inserts, replacements, erases and
// lookups, in a table small enough that probe runs wrap around and collide.
#include <map>
#include <random>
#include <utility>

#include "gtest/gtest.h"
#include "pagekv/vllm/key_table.h"

namespace pagekv::vllm {
namespace {

using Key = std::pair<uint64_t, int32_t>;

TEST(KeyTableTest, InsertFindReplaceErase) {
  KeyTable t(4);
  EXPECT_EQ(t.Find(7, 0), -1);
  EXPECT_EQ(t.Insert(7, 0, 3), KeyTable::kInserted);
  EXPECT_EQ(t.Insert(7, 1, 4), KeyTable::kInserted);
  EXPECT_EQ(t.Insert(7, 0, 5), 3);  // present: nothing stored
  EXPECT_EQ(t.Find(7, 0), 3);
  EXPECT_TRUE(t.Replace(7, 0, 6));
  EXPECT_EQ(t.Find(7, 0), 6);
  EXPECT_FALSE(t.Replace(8, 0, 1));
  EXPECT_TRUE(t.Erase(7, 0));
  EXPECT_FALSE(t.Erase(7, 0));
  EXPECT_EQ(t.Find(7, 1), 4);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.Verify().ok());
}

TEST(KeyTableTest, RefusesMoreThanItWasMadeFor) {
  KeyTable t(3);
  for (int32_t i = 0; i < 3; ++i) {
    ASSERT_EQ(t.Insert(100 + i, 0, i), KeyTable::kInserted);
  }
  EXPECT_EQ(t.Insert(200, 0, 9), KeyTable::kFull);
  EXPECT_EQ(t.Find(200, 0), -1);
  EXPECT_EQ(t.size(), 3u);
}

TEST(KeyTableTest, MatchesAMapUnderRandomOperations) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    constexpr int kMax = 12;
    KeyTable t(kMax);
    std::map<Key, int32_t> ref;
    // Few distinct keys and groups, some equal in their low bits, so that
    // homes collide and runs wrap around the end of the table.
    auto key = [&] {
      const uint64_t k = rng() % 24;
      return Key{(k % 3 == 0) ? k << 40 : k, static_cast<int32_t>(rng() % 2)};
    };
    for (int op = 0; op < 4000; ++op) {
      const Key k = key();
      const auto it = ref.find(k);
      switch (rng() % 4) {
        case 0: {
          const int32_t block = static_cast<int32_t>(rng() % 1000);
          const int32_t got = t.Insert(k.first, k.second, block);
          if (it != ref.end()) {
            ASSERT_EQ(got, it->second);
          } else if (ref.size() < kMax) {
            ASSERT_EQ(got, KeyTable::kInserted);
            ref[k] = block;
          } else {
            ASSERT_EQ(got, KeyTable::kFull);
          }
          break;
        }
        case 1:
          ASSERT_EQ(t.Erase(k.first, k.second), it != ref.end());
          if (it != ref.end()) ref.erase(it);
          break;
        case 2:
          ASSERT_EQ(t.Replace(k.first, k.second, op), it != ref.end());
          if (it != ref.end()) it->second = op;
          break;
        default:
          ASSERT_EQ(t.Find(k.first, k.second),
                    it == ref.end() ? -1 : it->second);
      }
      ASSERT_EQ(t.size(), ref.size());
      ASSERT_TRUE(t.Verify().ok()) << "seed " << seed << " op " << op;
    }
    size_t seen = 0;
    t.ForEach([&](uint64_t k, int32_t g, int32_t b) {
      ++seen;
      EXPECT_EQ(ref.at(Key{k, g}), b);
    });
    EXPECT_EQ(seen, ref.size());
    t.Clear();
    EXPECT_EQ(t.size(), 0u);
  }
}

}  // namespace
}  // namespace pagekv::vllm
