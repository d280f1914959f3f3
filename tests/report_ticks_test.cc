// Round axis ticks of the HTML report (tools/report/html_svg.h).
#include <cmath>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "report/html_svg.h"

namespace pagekv::tools::report {
namespace {

using testing::ElementsAre;

TEST(RoundTicksTest, PercentAxisStepsByTwenty) {
  const Ticks t = RoundTicks(0, 100, 5);
  EXPECT_EQ(t.step, 20);
  EXPECT_THAT(t.values, ElementsAre(0, 20, 40, 60, 80, 100));
  EXPECT_EQ(t.Label(40), "40");
}

TEST(RoundTicksTest, TicksInsideAnOddRangeAreMultiplesOfTheStep) {
  const Ticks t = RoundTicks(0.05, 166.9, 8);
  EXPECT_EQ(t.step, 50);
  EXPECT_THAT(t.values, ElementsAre(50, 100, 150));
}

TEST(RoundTicksTest, SmallStepsGetTheirDecimals) {
  const Ticks t = RoundTicks(0, 0.9, 5);
  EXPECT_DOUBLE_EQ(t.step, 0.2);
  ASSERT_EQ(t.values.size(), 5u);
  EXPECT_EQ(t.Label(t.values[3]), "0.6");
  EXPECT_EQ(t.Label(0), "0.0");       // every label has the same decimals
  EXPECT_EQ(t.Label(-1e-12), "0.0");  // never "-0.0"
}

TEST(RoundTicksTest, EveryStepIsOneTwoOrFiveTimesAPowerOfTen) {
  for (double hi = 0.003; hi < 1e6; hi *= 1.37) {
    const Ticks t = RoundTicks(0, hi, 5);
    const double mantissa =
        t.step / std::pow(10, std::floor(std::log10(t.step) + 1e-9));
    EXPECT_TRUE(std::fabs(mantissa - 1) < 1e-6 ||
                std::fabs(mantissa - 2) < 1e-6 ||
                std::fabs(mantissa - 5) < 1e-6)
        << "hi " << hi << " step " << t.step;
    EXPECT_LE(t.values.size(), 6u) << hi;
    EXPECT_GE(t.values.size(), 3u) << hi;
  }
}

TEST(RoundUpTest, AxisMaximumEndsOnATick) {
  EXPECT_EQ(RoundUp(101), 150);
  EXPECT_EQ(RoundUp(19), 20);
  EXPECT_EQ(RoundUp(40), 40);
  EXPECT_EQ(RoundUp(0), 1);
  for (double hi = 0.003; hi < 1e6; hi *= 1.37) {
    const double top = RoundUp(hi);
    EXPECT_GE(top, hi);
    const Ticks t = RoundTicks(0, top, 5);
    EXPECT_NEAR(t.values.back(), top, 1e-9 * top) << hi;
  }
}

TEST(EscTest, EscapesMarkup) {
  EXPECT_EQ(Esc("a<b>&\"c\""), "a&lt;b&gt;&amp;&quot;c&quot;");
}

}  // namespace
}  // namespace pagekv::tools::report
