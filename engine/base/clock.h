// Time in flashsaga: int64 nanoseconds. Wall time (CLOCK_REALTIME) is what journals and
// messages record; monotonic time (CLOCK_MONOTONIC) is what deadlines and latencies use.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>

namespace flashsaga {

inline std::int64_t wall_now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

inline std::int64_t mono_now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// RFC 3339 in UTC with millisecond precision, e.g. "2026-11-25T10:00:00.123Z".
std::string format_rfc3339(std::int64_t wall_ns);
// Parses RFC 3339 ("Z" or a numeric offset, optional fraction); false if malformed, or
// outside what int64 nanoseconds since 1970 hold (1970-01-01 to 2262-04-11T23:47:15.999999999Z).
bool parse_rfc3339(const std::string& text, std::int64_t& wall_ns_out);

}  // namespace flashsaga
