// Clock: where pagekv reads the time (for eviction recency and priority
// retention). Injected, so tests and the simulator control time.
#ifndef PAGEKV_CLOCK_H_
#define PAGEKV_CLOCK_H_

#include <cstdint>

namespace pagekv {

class Clock {
 public:
  virtual ~Clock() = default;
  // Microseconds since an arbitrary epoch, non-decreasing.
  virtual int64_t NowMicros() const = 0;
};

// The process's monotonic clock (std::chrono::steady_clock).
const Clock& SteadyClock();

// A clock that moves only when told to. Not thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t now_us = 0) : now_us_(now_us) {}
  int64_t NowMicros() const override { return now_us_; }
  void Set(int64_t now_us) { now_us_ = now_us; }
  void Advance(int64_t delta_us) { now_us_ += delta_us; }

 private:
  int64_t now_us_;
};

}  // namespace pagekv

#endif  // PAGEKV_CLOCK_H_
