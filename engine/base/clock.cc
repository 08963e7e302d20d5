#include "engine/base/clock.h"

#include <cstdint>

#include <cstdio>

namespace flashsaga {
namespace {

// Days from 1970-01-01 to the given civil date (proleptic Gregorian), after H. Hinnant.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

bool read_int(const std::string& s, std::size_t pos, std::size_t len, int& out) noexcept {
  if (pos + len > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + len; ++i) {
    if (!is_digit(s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

}  // namespace

std::string format_rfc3339(std::int64_t wall_ns) {
  std::int64_t secs = wall_ns / 1'000'000'000;
  std::int64_t rem = wall_ns % 1'000'000'000;
  if (rem < 0) {
    rem += 1'000'000'000;
    secs -= 1;
  }
  const time_t t = static_cast<time_t>(secs);
  tm utc{};
  gmtime_r(&t, &utc);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(rem / 1'000'000));
  return buf;
}

bool parse_rfc3339(const std::string& s, std::int64_t& wall_ns_out) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (s.size() < 20) return false;
  if (!read_int(s, 0, 4, year) || s[4] != '-' || !read_int(s, 5, 2, month) || s[7] != '-' ||
      !read_int(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !read_int(s, 11, 2, hour) || s[13] != ':' || !read_int(s, 14, 2, minute) || s[16] != ':' ||
      !read_int(s, 17, 2, second)) {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
    return false;
  std::size_t pos = 19;
  std::int64_t frac_ns = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::int64_t scale = 100'000'000;
    std::size_t digits = 0;
    while (pos < s.size() && is_digit(s[pos])) {
      if (digits < 9) frac_ns += (s[pos] - '0') * scale;
      scale /= 10;
      ++digits;
      ++pos;
      if (digits > 18) return false;
    }
    if (digits == 0) return false;
  }
  if (pos >= s.size()) return false;
  std::int64_t offset_s = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh = 0, om = 0;
    if (!read_int(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !read_int(s, pos + 4, 2, om) || oh > 23 || om > 59)
      return false;
    offset_s = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return false;
  }
  if (pos != s.size()) return false;
  if (year < 1970 || year > 9999) return false;
  const std::int64_t days =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const std::int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_s;
  // Nanoseconds since 1970 in an int64 end in 2262 (found by tests/fuzz/json_body_fuzz: a
  // year-3852 sale_starts_at overflowed): later times, and offsets before 1970, are refused.
  constexpr std::int64_t secs_max = (INT64_MAX - 999'999'999) / 1'000'000'000;
  if (secs < 0 || secs > secs_max) return false;
  wall_ns_out = secs * 1'000'000'000 + frac_ns;
  return true;
}

}  // namespace flashsaga
