// clock_test: parse_rfc3339's range (engine/base/clock.h). Regression of a json_body_fuzz
// finding: a year-3852 time overflowed int64 nanoseconds (UBSan) instead of being refused.
#include <gtest/gtest.h>

#include <cstdint>

#include "engine/base/clock.h"

namespace flashsaga {
namespace {

TEST(Rfc3339, RefusesTimesBeyondInt64Nanoseconds) {
  std::int64_t ns = 7;
  EXPECT_FALSE(parse_rfc3339("3852-03-01T09:00:00Z", ns));
  EXPECT_FALSE(parse_rfc3339("9999-12-31T23:59:59Z", ns));
  EXPECT_FALSE(parse_rfc3339("2262-04-11T23:47:16Z", ns));
  EXPECT_EQ(ns, 7);  // untouched when refused
  ASSERT_TRUE(parse_rfc3339("2262-04-11T23:47:15.999Z", ns));
  EXPECT_EQ(ns, std::int64_t{9'223'372'035} * 1'000'000'000 + 999'000'000);
}

TEST(Rfc3339, RefusesOffsetsThatLandBefore1970) {
  std::int64_t ns = 0;
  EXPECT_FALSE(parse_rfc3339("1970-01-01T00:00:00+01:00", ns));
  ASSERT_TRUE(parse_rfc3339("1970-01-01T00:00:00-01:00", ns));
  EXPECT_EQ(ns, std::int64_t{3600} * 1'000'000'000);
  ASSERT_TRUE(parse_rfc3339("2026-03-01T09:00:00.5Z", ns));
  EXPECT_EQ(ns, 1'772'355'600'500'000'000);
}

}  // namespace
}  // namespace flashsaga
