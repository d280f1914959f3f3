// The cost model on hybrid models: state groups move a fixed state per
// sequence per step, chunked-local groups read at most their chunk, and the
// hybrid presets beside their full-attention twins.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pagekv/cost/bandwidth_model.h"
#include "pagekv/cost/capacity.h"
#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"

namespace pagekv {
namespace {

using ::testing::HasSubstr;

ModelSpec Preset(const std::string& name) {
  absl::StatusOr<ModelSpec> m = FindModelPreset(name);
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

BandwidthModel Model(const ModelSpec& spec) {
  auto m = BandwidthModel::Create(spec, *FindHardwarePreset("h200"), {});
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

TEST(HybridModelSpecTest, PresetsMapToTheManagersGroupKinds) {
  const ModelSpec qwen = Preset("qwen3-next-80b-a3b");
  EXPECT_TRUE(qwen.Validate().ok()) << qwen.Validate();
  const std::vector<KVCacheGroupSpec> groups = qwen.KVCacheGroups();
  ASSERT_EQ(groups.size(), 4u);
  EXPECT_EQ(groups[0].kind, KVCacheGroupSpec::Kind::kFullAttention);
  for (int g = 1; g < 4; ++g) {
    EXPECT_EQ(groups[g].kind, KVCacheGroupSpec::Kind::kState);
    EXPECT_EQ(groups[g].state_cache_mode, StateCacheMode::kAlign);
  }
  // Only the 12 attention layers hold per-token KV: 2 KV heads of 256, bf16.
  EXPECT_DOUBLE_EQ(qwen.KvBytesPerToken(1), 12 * 2 * 2 * 256 * 2.0);
  EXPECT_DOUBLE_EQ(qwen.StateBytesPerSequence(1), 36 * 1097728.0);
  EXPECT_DOUBLE_EQ(qwen.StateBytesPerSequence(2), 18 * 1097728.0);
  const ModelSpec scout = Preset("llama-4-scout-17b-16e");
  EXPECT_EQ(scout.KVCacheGroups()[1].kind,
            KVCacheGroupSpec::Kind::kChunkedLocal);
  EXPECT_EQ(scout.KVCacheGroups()[1].attention_chunk_size, 8192);
  EXPECT_FALSE(scout.has_state_groups());
}

TEST(HybridModelSpecTest, JsonReadsTheNewKindsAndRejectsTwoAtOnce) {
  auto spec = ParseModelSpecJson(
      R"({"base": "qwen3-next-80b-a3b", "layer_groups": [
           {"name": "a", "num_layers": 24},
           {"name": "s", "num_layers": 24, "state_bytes_per_layer": 1e6,
            "state_cache_mode": "none"}]})",
      "hybrid.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->KVCacheGroups()[1].state_cache_mode, StateCacheMode::kNone);
  auto bad = ParseModelSpecJson(
      R"({"base": "llama-2-7b", "layer_groups": [
           {"num_layers": 32, "sliding_window": 8,
            "attention_chunk_size": 64}]})",
      "bad.json");
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("layer_groups[0]"));
  auto mode = ParseModelSpecJson(
      R"({"base": "llama-2-7b", "layer_groups": [
           {"num_layers": 32, "state_cache_mode": "all"}]})",
      "mode.json");
  EXPECT_THAT(std::string(mode.status().message()),
              HasSubstr("state_cache_mode"));
}

TEST(HybridBandwidthTest, StateTrafficDoesNotGrowWithContext) {
  const ModelSpec qwen = Preset("qwen3-next-80b-a3b");
  const BandwidthModel m = Model(qwen);
  const StepCost short_ctx =
      m.Estimate(UniformDecodeFootprint(qwen, 8, 1024, 16));
  const StepCost long_ctx =
      m.Estimate(UniformDecodeFootprint(qwen, 8, 65536, 16));
  const double state = qwen.StateBytesPerSequence(1);
  const double kv = qwen.KvBytesPerToken(1);
  // Reads: each sequence's states plus the attention layers' pages.
  EXPECT_NEAR(short_ctx.kv_read_bytes, 8 * (state + kv * 65 * 16),
              1);  // 1025 tokens: 65 pages
  EXPECT_NEAR(long_ctx.kv_read_bytes - short_ctx.kv_read_bytes,
              8 * kv * (65536 / 16 - 1024 / 16) * 16, 1);
  // Writes: one token of attention KV and one new state per sequence.
  EXPECT_NEAR(long_ctx.kv_write_bytes, 8 * (kv + state), 1);
  EXPECT_NEAR(short_ctx.kv_write_bytes, long_ctx.kv_write_bytes, 1);
}

TEST(HybridBandwidthTest, ChunkedLocalReadsAtMostItsChunk) {
  const ModelSpec scout = Preset("llama-4-scout-17b-16e");
  const ModelSpec global = Preset("llama-4-scout-17b-16e-all-global");
  const BandwidthModel hybrid = Model(scout);
  const BandwidthModel full = Model(global);
  const double per_layer = scout.KvBytesPerTokenPerLayer(1);
  // Context 100000: global layers read it all, chunked layers the tokens
  // of the current chunk (100000 % 8192 = 1696, plus the new token's page).
  const StepCost h =
      hybrid.Estimate(UniformDecodeFootprint(scout, 1, 100000, 16));
  const StepCost f =
      full.Estimate(UniformDecodeFootprint(global, 1, 100000, 16));
  const double global_read = 12 * per_layer * 6251 * 16;  // 100001 tokens
  const double chunk_pages = (100000 - 100000 / 8192 * 8192) / 16 + 1;
  EXPECT_NEAR(h.kv_read_bytes, global_read + 36 * per_layer * chunk_pages * 16,
              1);
  EXPECT_NEAR(f.kv_read_bytes, 48 * per_layer * 6251 * 16, 1);
  EXPECT_LT(h.seconds, f.seconds);
  EXPECT_LT(h.flops, f.flops);  // a chunk's query-key pairs, not the context
}

TEST(HybridCapacityTest, HybridsFitMoreLongSequences) {
  CapacityOptions options;
  options.tensor_parallel = 2;
  const HardwareSpec h200 = *FindHardwarePreset("h200");
  auto conc = [&](const char* name) {
    return *MaxConcurrency(Preset(name), h200, options, 32768);
  };
  EXPECT_GT(conc("qwen3-next-80b-a3b"),
            3 * conc("qwen3-next-80b-a3b-all-attention"));
  EXPECT_GT(conc("llama-4-scout-17b-16e"),
            2 * conc("llama-4-scout-17b-16e-all-global"));
  // A state group's memory is one state per sequence, whatever its length.
  const ModelSpec qwen = Preset("qwen3-next-80b-a3b");
  const double at_1k = *SequenceKvBytes(qwen, 1024, options);
  const double at_2k = *SequenceKvBytes(qwen, 2048, options);
  EXPECT_NEAR(at_2k - at_1k, 1024 * qwen.KvBytesPerToken(2), 1);
  EXPECT_GT(at_1k, qwen.StateBytesPerSequence(2));
}

}  // namespace
}  // namespace pagekv
