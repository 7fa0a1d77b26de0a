#include "tessera/analytics/profiles.h"

#include <gtest/gtest.h>

#include "tessera/common/civil_time.h"

namespace tessera::analytics {
namespace {

int64_t Day(int y, int m, int d) { return DaysFromCivil(y, m, d); }

std::string Start(std::string_view window, int y, int m, int d) {
  auto w = Window::Parse(window);
  EXPECT_TRUE(w.ok()) << window;
  return w.ok() ? FormatIsoDate(w->StartDay(Day(y, m, d))) : "";
}

TEST(Window, ParsesMonthsAndDays) {
  for (const auto& [text, months, days] : {std::tuple{"12m", 12, 0},
                                           {"24m", 24, 0},
                                           {"36m", 36, 0},
                                           {"1m", 1, 0},
                                           {"1200m", 1200, 0},
                                           {"90d", 0, 90},
                                           {"1d", 0, 1},
                                           {"36500d", 0, 36500}}) {
    auto w = Window::Parse(text);
    ASSERT_TRUE(w.ok()) << text;
    EXPECT_EQ(w->months(), months) << text;
    EXPECT_EQ(w->days(), days) << text;
    EXPECT_EQ(w->ToString(), text);
  }
}

TEST(Window, RejectsAnythingElse) {
  for (const char* bad : {"0m", "0d", "m", "d", "12", "12x", "12M", "-3d", "+3d", "1201m", "36501d",
                          "", " 12m", "12m ", "1.5m", "99999999999m", "12mm"}) {
    auto w = Window::Parse(bad);
    EXPECT_FALSE(w.ok()) << "'" << bad << "'";
    if (!w.ok()) {
      EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST(Window, DefaultIsTwentyFourMonths) { EXPECT_EQ(Window().ToString(), "24m"); }

TEST(Window, TwelveMonthsEndingJuneThirtiethStartOnJulyFirst) {
  EXPECT_EQ(Start("12m", 2024, 6, 30), "2023-07-01");
  EXPECT_EQ(Start("24m", 2024, 6, 30), "2022-07-01");
  EXPECT_EQ(Start("36m", 2024, 6, 30), "2021-07-01");
}

TEST(Window, TwelveMonthsEndingOnALeapDayStartOnMarchFirst) {
  // 2024-02-29 minus 12 months clamps to 2023-02-28; the window starts the day after.
  EXPECT_EQ(Start("12m", 2024, 2, 29), "2023-03-01");
  EXPECT_EQ(Start("48m", 2024, 2, 29), "2020-03-01");
}

TEST(Window, MonthsEndingMidMonthStartTheDayAfterTheSameDate) {
  EXPECT_EQ(Start("12m", 2024, 1, 15), "2023-01-16");
  EXPECT_EQ(Start("1m", 2024, 3, 31), "2024-03-01");  // 2024-02-29 + 1
  EXPECT_EQ(Start("1m", 2024, 1, 1), "2023-12-02");
}

TEST(Window, TwelveMonthWindowsHoldAYearOfDays) {
  EXPECT_EQ(Day(2024, 6, 30) - Window::Parse("12m")->StartDay(Day(2024, 6, 30)) + 1, 366);
  EXPECT_EQ(Day(2023, 6, 30) - Window::Parse("12m")->StartDay(Day(2023, 6, 30)) + 1, 365);
}

TEST(Window, DaysIncludeTheAsOfDate) {
  EXPECT_EQ(Window::Parse("90d")->StartDay(Day(2024, 6, 30)), Day(2024, 6, 30) - 89);
  EXPECT_EQ(Start("90d", 2024, 6, 30), "2024-04-02");  // 29 days of June, 31 of May, 29 of April
  EXPECT_EQ(Window::Parse("1d")->StartDay(Day(2024, 6, 30)), Day(2024, 6, 30));
  EXPECT_EQ(Start("90d", 2024, 3, 1), "2023-12-03");  // back over Feb (29 days) and Jan (31)
}

}  // namespace
}  // namespace tessera::analytics
