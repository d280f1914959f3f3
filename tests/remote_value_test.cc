// The remote block value format: every single-byte corruption and every
// truncation of a value is rejected, and a value of any other block (one
// field of the record different) is a mismatch, never accepted.
#include "net/remote_value.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pagekv/block_chain.h"

namespace pagekv::net::internal {
namespace {

struct Fixture {
  std::vector<TokenId> tokens = {11, 12, 13, 14};
  std::vector<MultimodalItem> items = {{0xfeed, 2, 5}};
  std::vector<uint8_t> payload;
  BlockRecord record;

  Fixture() {
    for (int i = 0; i < 64; ++i) payload.push_back(static_cast<uint8_t>(i * 7));
    record.key = 0x1111;
    record.parent_key = 0x2222;
    record.first_token = 4;
    record.lora_id = 3;
    record.cache_salt = 9;
    record.tokens = tokens;
    record.mm_items = items;
  }
};

TEST(RemoteValueTest, RoundTripsAndTheLookupHeaderIsAPrefix) {
  Fixture f;
  std::string value;
  EncodeRemoteValue(f.record, f.payload, &value);
  EXPECT_EQ(value.size(), RemoteHeaderSize(f.record) + f.payload.size());
  absl::string_view out;
  RemoteFault fault;
  ASSERT_TRUE(CheckRemoteValue(f.record, value, 64, &out, &fault).ok());
  EXPECT_EQ(std::string(out), std::string(f.payload.begin(), f.payload.end()));
  uint64_t size = 0;
  ASSERT_TRUE(CheckRemoteHeader(f.record,
                                absl::string_view(value).substr(
                                    0, RemoteHeaderSize(f.record)),
                                &size, &fault)
                  .ok());
  EXPECT_EQ(size, 64u);
  EXPECT_FALSE(CheckRemoteValue(f.record, value, 63, &out, &fault).ok());
  EXPECT_EQ(fault, RemoteFault::kSizeMismatch);
}

TEST(RemoteValueTest, EverySingleByteCorruptionIsRejected) {
  Fixture f;
  std::string value;
  EncodeRemoteValue(f.record, f.payload, &value);
  for (size_t i = 0; i < value.size(); ++i) {
    for (uint8_t flip : {0x01, 0x80, 0xff}) {
      std::string bad = value;
      bad[i] = static_cast<char>(bad[i] ^ flip);
      absl::string_view out;
      RemoteFault fault;
      EXPECT_FALSE(CheckRemoteValue(f.record, bad, 64, &out, &fault).ok())
          << "byte " << i << " ^ " << int{flip};
      EXPECT_EQ(fault, RemoteFault::kCorrupt) << "byte " << i;
    }
  }
}

TEST(RemoteValueTest, EveryTruncationAndExtensionIsRejected) {
  Fixture f;
  std::string value;
  EncodeRemoteValue(f.record, f.payload, &value);
  absl::string_view out;
  RemoteFault fault;
  for (size_t n = 0; n < value.size(); ++n) {
    EXPECT_FALSE(
        CheckRemoteValue(f.record, value.substr(0, n), 64, &out, &fault).ok())
        << n;
  }
  EXPECT_FALSE(CheckRemoteValue(f.record, value + "x", 64, &out, &fault).ok());
}

TEST(RemoteValueTest, AValueOfAnyOtherBlockIsAMismatch) {
  Fixture f;
  std::string value;
  EncodeRemoteValue(f.record, f.payload, &value);
  std::vector<TokenId> other_tokens = {11, 12, 13, 15};
  std::vector<MultimodalItem> other_items = {{0xfeed, 3, 5}};
  std::vector<BlockRecord> others(7, f.record);
  others[0].key ^= 1;
  others[1].parent_key ^= 1;
  others[2].first_token += 4;
  others[3].lora_id = 0;
  others[4].cache_salt = 0;
  others[5].tokens = other_tokens;
  others[6].mm_items = other_items;
  for (size_t i = 0; i < others.size(); ++i) {
    absl::string_view out;
    RemoteFault fault;
    EXPECT_FALSE(CheckRemoteValue(others[i], value, 64, &out, &fault).ok())
        << i;
    EXPECT_EQ(fault, RemoteFault::kMismatch) << i;
  }
  BlockRecord no_items = f.record;  // another header length
  no_items.mm_items = {};
  absl::string_view out;
  RemoteFault fault;
  EXPECT_FALSE(CheckRemoteValue(no_items, value, 64, &out, &fault).ok());
}

}  // namespace
}  // namespace pagekv::net::internal
