#include "core/check.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "core/call_recorder.h"

namespace pagekv::internal {
namespace {

void DefaultHandler(const char* file, int line, const char* condition,
                    std::string_view message) {
  std::fprintf(stderr, "pagekv check failed at %s:%d: %s\n  %.*s\n", file, line,
               condition, static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
}

std::atomic<CheckFailureHandler> g_handler{&DefaultHandler};

}  // namespace

CheckFailureHandler SetCheckFailureHandler(CheckFailureHandler handler) {
  return g_handler.exchange(handler ? handler : &DefaultHandler);
}

void CheckFailed(const char* file, int line, const char* condition,
                 std::string_view message) {
  CallRecorder::OnCheckFailure();  // write out call logs before aborting
  g_handler.load()(file, line, condition, message);
  std::abort();
}

}  // namespace pagekv::internal
