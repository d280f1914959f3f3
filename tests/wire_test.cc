// The msgpack wire format: every event type in both layouts round-trips,
// vLLM's and SGLang's variants decode, and malformed or truncated payloads
// are rejected whole with a message naming the field.
#include "pagekv/net/wire.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pagekv::net {
namespace {

using ::testing::HasSubstr;

std::vector<KVEvent> EveryEvent() {
  BlockStoredEvent first;  // a chain's first blocks: no parent, salted
  first.block_keys = {0xfffffffffffffff1ull, 2};
  first.token_ids = {1, 2, 3, 4, 5, 6, 7, -8};
  first.block_size = 4;
  first.lora_id = 5;
  first.cache_salt = 99;
  BlockStoredEvent child;  // a later block, sliding-window group
  child.block_keys = {3};
  child.parent_key = 2;
  child.token_ids = {9, 10, 11, 2000000000};
  child.block_size = 4;
  child.group = GroupId(1);
  BlockRemovedEvent removed{{3, 2}, GroupId(0)};
  return {first, child, removed, AllBlocksClearedEvent{}};
}

EncodeOptions Options(WireLayout layout) {
  EncodeOptions o;
  o.layout = layout;
  o.data_parallel_rank = 2;
  o.groups = {KVCacheGroupSpec::FullAttention(),
              KVCacheGroupSpec::SlidingWindow(128)};
  return o;
}

class WireLayoutTest : public ::testing::TestWithParam<WireLayout> {};

TEST_P(WireLayoutTest, EveryEventRoundTrips) {
  std::string payload;
  EncodeBatch(12.5, EveryEvent(), Options(GetParam()), &payload);
  auto batch = DecodeBatch(payload);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->ts, 12.5);
  EXPECT_EQ(batch->data_parallel_rank, 2);
  ASSERT_EQ(batch->events.size(), 4u);
  const auto& s0 = std::get<WireBlockStored>(batch->events[0]);
  EXPECT_EQ(s0.block_hashes, (std::vector<uint64_t>{0xfffffffffffffff1ull, 2}));
  EXPECT_FALSE(s0.parent_block_hash.has_value());
  EXPECT_EQ(s0.token_ids, (std::vector<TokenId>{1, 2, 3, 4, 5, 6, 7, -8}));
  EXPECT_EQ(s0.block_size, 4);
  EXPECT_EQ(s0.lora_id, 5);
  EXPECT_EQ(s0.medium, "GPU");
  EXPECT_FALSE(s0.lora_name.has_value());
  EXPECT_EQ(s0.cache_salt, 99u);
  EXPECT_EQ(s0.group_idx, 0);
  EXPECT_EQ(s0.kv_cache_spec_kind, "full_attention");
  EXPECT_FALSE(s0.kv_cache_spec_sliding_window.has_value());
  const auto& s1 = std::get<WireBlockStored>(batch->events[1]);
  EXPECT_EQ(s1.parent_block_hash, 2u);
  EXPECT_FALSE(s1.lora_id.has_value());
  EXPECT_EQ(s1.cache_salt, 0u);
  EXPECT_EQ(s1.group_idx, 1);
  EXPECT_EQ(s1.kv_cache_spec_kind, "sliding_window");
  EXPECT_EQ(s1.kv_cache_spec_sliding_window, 128);
  const auto& r = std::get<WireBlockRemoved>(batch->events[2]);
  EXPECT_EQ(r.block_hashes, (std::vector<uint64_t>{3, 2}));
  EXPECT_EQ(r.medium, "GPU");
  EXPECT_EQ(r.group_idx, 0);
  EXPECT_TRUE(std::holds_alternative<WireAllBlocksCleared>(batch->events[3]));
  // Re-encoding the decoded batch gives the same bytes.
  std::string again;
  EncodeWireBatch(*batch, GetParam(), &again);
  EXPECT_EQ(again, payload);
}

TEST_P(WireLayoutTest, EveryTruncationIsRejected) {
  std::string payload;
  EncodeBatch(1.0, EveryEvent(), Options(GetParam()), &payload);
  for (size_t n = 0; n < payload.size(); ++n) {
    EXPECT_FALSE(DecodeBatch(payload.substr(0, n)).ok()) << "prefix " << n;
  }
  EXPECT_FALSE(DecodeBatch(payload + "x").ok());
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, WireLayoutTest,
    ::testing::Values(WireLayout::kArray, WireLayout::kMap),
    [](const ::testing::TestParamInfo<WireLayout>& info) {
      return std::string(info.param == WireLayout::kArray ? "array" : "map");
    });

TEST(WireTest, ArrayLayoutMatchesVllmBytes) {
  // [0.5, [["BlockRemoved", [7], "GPU", 0]]] with no rank, as msgspec
  // encodes KVEventBatch(ts=0.5, events=[BlockRemoved([7], "GPU", 0)]).
  BlockRemovedEvent r{{7}, GroupId(0)};
  std::string payload;
  EncodeBatch(0.5, {KVEvent(r)}, EncodeOptions{}, &payload);
  const std::string expected(
      "\x92\xcb\x3f\xe0\x00\x00\x00\x00\x00\x00\x91\x94\xac"
      "BlockRemoved\x91\x07\xa3GPU\x00",
      32);
  EXPECT_EQ(payload, expected);
}

TEST(WireTest, DocumentedExampleBytes) {
  // docs/kv-events.md, "A message byte by byte".
  BlockStoredEvent s;
  s.block_keys = {0xab};
  s.token_ids = {1, 2};
  s.block_size = 2;
  EncodeOptions o;
  o.data_parallel_rank = 0;
  std::string payload;
  EncodeBatch(1.5, {KVEvent(s)}, o, &payload);
  const std::string expected(
      "\x93\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00\x91\x9c\xab"
      "BlockStored\x91\xcc\xab\xc0\x92\x01\x02\x02\xc0\xa3"
      "GPU\xc0\xc0\x00\xae"
      "full_attention\xc0\x00",
      57);
  EXPECT_EQ(payload, expected);
}

TEST(WireTest, SglangAndOlderVllmVariantsDecode) {
  // Map layout with attn_dp_rank; a BlockStored of 6 elements (no medium).
  const std::string map_batch =
      "\x83\xa2ts\x01\xa6"
      "events\x90\xac"
      "attn_dp_rank\x03";
  auto b = DecodeBatch(map_batch);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->data_parallel_rank, 3);
  const std::string short_stored(
      "\x92\x01\x91\x96\xab"
      "BlockStored\x91\x05\xc0\x92\x01\x02\x02\xc0",
      24);
  auto s = DecodeBatch(short_stored);
  ASSERT_TRUE(s.ok()) << s.status();
  const auto& e = std::get<WireBlockStored>(s->events[0]);
  EXPECT_EQ(e.block_hashes, std::vector<uint64_t>{5});
  EXPECT_EQ(e.block_size, 2);
  EXPECT_FALSE(e.medium.has_value());
}

TEST(WireTest, BadFieldsAreNamed) {
  WireBatch b;
  WireBlockStored s;
  s.block_hashes = {1, 2};
  s.token_ids = {1, 2, 3};  // 3 tokens for 2 blocks of 2
  s.block_size = 2;
  b.events.push_back(s);
  std::string payload;
  EncodeWireBatch(b, WireLayout::kArray, &payload);
  auto d = DecodeBatch(payload);
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(), HasSubstr("events[0].token_ids"));
  auto tag =
      DecodeBatch(std::string("\x92\x01\x91\x91\xa4"
                              "Nope",
                              9));
  ASSERT_FALSE(tag.ok());
  EXPECT_THAT(tag.status().message(), HasSubstr("unknown event tag 'Nope'"));
  EXPECT_FALSE(DecodeBatch("").ok());
  EXPECT_FALSE(DecodeBatch("\xc1").ok());
}

TEST(WireTest, SequenceFramesAreEightBytesBigEndian) {
  EXPECT_EQ(EncodeSeq(0x0102030405060708), "\x01\x02\x03\x04\x05\x06\x07\x08");
  EXPECT_EQ(EncodeSeq(-1), std::string(8, '\xff'));
  EXPECT_EQ(*DecodeSeq(EncodeSeq(123456789)), 123456789);
  EXPECT_EQ(*DecodeSeq(EncodeSeq(kEndOfReplaySeq)), kEndOfReplaySeq);
  EXPECT_FALSE(DecodeSeq("1234567").ok());
}

}  // namespace
}  // namespace pagekv::net
