// `pagekv simulate --kv-events`: the simulated engine's events reach a
// cluster index through real sockets, every batch in order, none malformed.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "gtest/gtest.h"
#include "net_test_util.h"
#include "pagekv/net/cluster_index.h"
#include "pagekv/net/index_subscriber.h"
#include "simulate_command.h"

namespace pagekv::net {
namespace {

TEST(SimulateKvEventsTest, SimulatedEngineFeedsAnIndex) {
  const std::string dir =
      ::testing::TempDir() + "pagekv_sim_events_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  tools::SimulateArgs args;
  args.allocator = "paged";
  args.kv_memory_gib = "1";
  args.kv_events = "ipc://" + dir + "/pub";
  args.kv_events_replay = "ipc://" + dir + "/replay";
  // A short trace paced to simulated time (40 arrivals over 0.8 s, 4 output
  // tokens each), so the subscriber has joined long before the run ends and
  // the publisher shuts down, however fast the build: as fast as it runs, a
  // release build could finish before the subscriber's first connection.
  const std::string trace = dir + "/trace.jsonl";
  {
    std::ofstream f(trace);
    for (int i = 0; i < 40; ++i) {
      f << "{\"arrival_s\": " << i * 0.02 << ", \"prompt_length\": 300, "
        << "\"shared_prefix_id\": " << i % 4 << ", \"shared_prefix_length\": "
        << "256, \"output_length\": 4}\n";
    }
  }
  args.workload = trace;
  args.format = "jsonl";
  args.kv_events_realtime = true;
  ClusterIndexConfig ic;  // the simulator's engine: block 16, seed 0
  auto index = *ClusterIndex::Create(ic);
  IndexSubscriberConfig sc;
  sc.sources.push_back({"sim", args.kv_events, args.kv_events_replay, ""});
  sc.log = false;
  auto sub = *IndexSubscriber::Create(sc, index.get());
  std::atomic<bool> done{false};
  int rc = -1;
  std::ostringstream out, err;
  std::thread sim([&] {
    rc = tools::RunSimulate(args, out, err);
    done = true;
  });
  // Read while it runs; then until the stream is quiet for a while.
  ASSERT_TRUE(pagekv::testing::PumpUntil(
      [&] {
        sub->Poll(5);
        return done.load();
      },
      std::chrono::milliseconds(120000)));
  sim.join();
  ASSERT_EQ(rc, tools::kSimulateOk) << err.str();
  for (int quiet = 0; quiet < 40;) quiet = sub->Poll(5) == 0 ? quiet + 1 : 0;
  const SourceStats st = sub->stats(0);
  EXPECT_GT(st.batches, 0u);
  EXPECT_GT(st.blocks, 0u);
  EXPECT_EQ(st.malformed, 0u);
  EXPECT_EQ(index->stats().unresolved_blocks, 0u);
  EXPECT_GT(index->stats().blocks_stored, 0u);
  EXPECT_TRUE(index->Verify().ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pagekv::net
