#include "core/check.h"

#include <stdexcept>
#include <string>

#include "gtest/gtest.h"

namespace pagekv::internal {
namespace {

struct CheckFired : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void ThrowingHandler(const char*, int, const char* condition,
                     std::string_view message) {
  throw CheckFired(std::string(condition) + ": " + std::string(message));
}

TEST(CheckTest, HandlerSeesConditionAndFormattedMessage) {
  auto previous = SetCheckFailureHandler(&ThrowingHandler);
  int blocks = 3;
  try {
    PAGEKV_INTERNAL_CHECK(blocks == 4, "expected 4 blocks, have {}", blocks);
    ADD_FAILURE() << "check did not fire";
  } catch (const CheckFired& e) {
    EXPECT_STREQ(e.what(), "blocks == 4: expected 4 blocks, have 3");
  }
  SetCheckFailureHandler(previous);
}

TEST(CheckDeathTest, DefaultHandlerAbortsWithMessage) {
  EXPECT_DEATH(PAGEKV_INTERNAL_CHECK(1 + 1 == 3, "arithmetic is {}", "broken"),
               "arithmetic is broken");
}

TEST(CheckTest, PassingCheckDoesNothing) {
  PAGEKV_INTERNAL_CHECK(true, "never shown");
  PAGEKV_CHECK(true, "never shown");
  PAGEKV_DCHECK(true, "never shown");
}

}  // namespace
}  // namespace pagekv::internal
