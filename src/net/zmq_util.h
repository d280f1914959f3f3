// Small helpers over cppzmq: multipart send/receive with copies into
// strings, and bind/connect that return a Status naming the endpoint.
#ifndef PAGEKV_NET_ZMQ_UTIL_H_
#define PAGEKV_NET_ZMQ_UTIL_H_

#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "zmq.hpp"

namespace pagekv::net::internal {

// Sends `frames` as one multipart message. False if it could not be queued
// (dontwait and the peer is at its high-water mark, or a socket error).
inline bool SendFrames(zmq::socket_t& socket,
                       std::initializer_list<absl::string_view> frames,
                       bool dontwait) {
  size_t i = 0;
  try {
    for (absl::string_view f : frames) {
      zmq::send_flags flags =
          dontwait ? zmq::send_flags::dontwait : zmq::send_flags::none;
      if (++i < frames.size()) flags = flags | zmq::send_flags::sndmore;
      if (!socket.send(zmq::const_buffer(f.data(), f.size()), flags)) {
        return false;
      }
    }
  } catch (const zmq::error_t&) {
    return false;
  }
  return true;
}

// Receives one multipart message into *frames. False if none is waiting
// (dontwait) or on a socket error.
inline bool RecvFrames(zmq::socket_t& socket, std::vector<std::string>* frames,
                       bool dontwait) {
  frames->clear();
  try {
    for (;;) {
      zmq::message_t msg;
      const auto flags = dontwait && frames->empty() ? zmq::recv_flags::dontwait
                                                     : zmq::recv_flags::none;
      if (!socket.recv(msg, flags)) return false;
      frames->emplace_back(static_cast<const char*>(msg.data()), msg.size());
      if (!msg.more()) return true;
    }
  } catch (const zmq::error_t&) {
    return false;
  }
}

// Binds and returns the endpoint as bound (a "*" port resolved).
inline absl::StatusOr<std::string> Bind(zmq::socket_t& socket,
                                        const std::string& endpoint) {
  try {
    socket.bind(endpoint);
    return socket.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot bind '", endpoint, "': ", e.what()));
  }
}

inline absl::StatusOr<std::string> Connect(zmq::socket_t& socket,
                                           const std::string& endpoint) {
  try {
    socket.connect(endpoint);
    return endpoint;
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to '", endpoint, "': ", e.what()));
  }
}

}  // namespace pagekv::net::internal

#endif  // PAGEKV_NET_ZMQ_UTIL_H_
