// Helpers for tests that play a publisher by hand on raw ZeroMQ sockets:
// a batch of one-block BlockStored events, and a live message in vLLM's
// three frames.
#ifndef PAGEKV_TESTS_RAW_PUBLISHER_UTIL_H_
#define PAGEKV_TESTS_RAW_PUBLISHER_UTIL_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "pagekv/net/wire.h"
#include "zmq.hpp"

namespace pagekv::testing {

// A batch (array layout) storing one 4-token block per (engine hash,
// token) pair, each block's tokens all that token.
inline std::string StoredBlocks(
    const std::vector<std::pair<uint64_t, TokenId>>& blocks, double ts = 0) {
  net::WireBatch b;
  b.ts = ts;
  for (const auto& [hash, t] : blocks) {
    net::WireBlockStored s;
    s.block_hashes = {hash};
    s.token_ids = {t, t, t, t};
    s.block_size = 4;
    b.events.push_back(s);
  }
  std::string out;
  net::EncodeWireBatch(b, net::WireLayout::kArray, &out);
  return out;
}

// Sends [topic "", seq, payload] on a PUB socket.
inline void SendLive(zmq::socket_t& pub, int64_t seq,
                     const std::string& payload) {
  const std::string s = net::EncodeSeq(seq);
  pub.send(zmq::buffer(std::string()), zmq::send_flags::sndmore);
  pub.send(zmq::buffer(s), zmq::send_flags::sndmore);
  pub.send(zmq::buffer(payload), zmq::send_flags::none);
}

}  // namespace pagekv::testing

#endif  // PAGEKV_TESTS_RAW_PUBLISHER_UTIL_H_
