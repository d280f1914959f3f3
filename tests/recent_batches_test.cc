// RecentBatches: the subscriber's memory of applied payloads.
#include "net/recent_batches.h"

#include <string>

#include "gtest/gtest.h"

namespace pagekv::net::internal {
namespace {

using Match = RecentBatches::Match;

TEST(RecentBatchesTest, ComparesByPayloadAndKnowsOnlyWhatItWasGiven) {
  RecentBatches r;
  EXPECT_FALSE(r.Has(0));
  r.Add(3, "three");
  r.Add(5, "five");  // 4 came by snapshot: never remembered
  EXPECT_TRUE(r.Has(3));
  EXPECT_FALSE(r.Has(4));
  EXPECT_EQ(r.Compare(3, "three"), Match::kSame);
  EXPECT_EQ(r.Compare(3, "thre3"), Match::kDifferent);
  EXPECT_EQ(r.Compare(4, "four"), Match::kUnknown);
  EXPECT_EQ(r.Compare(6, "six"), Match::kUnknown);
  r.Add(5, "another five");  // not rising: ignored
  EXPECT_EQ(r.Compare(5, "five"), Match::kSame);
  r.Clear();
  EXPECT_EQ(r.Compare(3, "three"), Match::kUnknown);
}

TEST(RecentBatchesTest, KeepsTheLast4096) {
  RecentBatches r;
  for (int64_t seq = 0; seq < 5000; ++seq) r.Add(seq, std::to_string(seq));
  EXPECT_FALSE(r.Has(903));
  EXPECT_TRUE(r.Has(904));
  EXPECT_EQ(r.Compare(904, "904"), Match::kSame);
  EXPECT_EQ(r.Compare(4999, "4999"), Match::kSame);
}

}  // namespace
}  // namespace pagekv::net::internal
