// output: how the inspector writes — aligned tables, colour only on a terminal, fast time
// stamps, JSON and CSV escaping. No allocation per record on the show/export paths: lines are
// built in an fmt::memory_buffer and flushed in blocks.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace flashsaga::tools {

// ANSI colours, or nothing when colour is off (stdout is not a TTY, or NO_COLOR is set).
struct Style {
  bool color = false;
  std::string_view bold() const { return color ? "\x1b[1m" : ""; }
  std::string_view dim() const { return color ? "\x1b[2m" : ""; }
  std::string_view red() const { return color ? "\x1b[31m" : ""; }
  std::string_view green() const { return color ? "\x1b[32m" : ""; }
  std::string_view yellow() const { return color ? "\x1b[33m" : ""; }
  std::string_view cyan() const { return color ? "\x1b[36m" : ""; }
  std::string_view reset() const { return color ? "\x1b[0m" : ""; }
};
// Whether stdout is a terminal that wants colour (isatty and NO_COLOR unset).
bool stdout_wants_color() noexcept;

// Appending without a format string: the show/export hot path (a format string costs a parse
// per call; these are a copy).
inline void put(fmt::memory_buffer& b, std::string_view s) {
  b.append(s);
}
inline void put_u(fmt::memory_buffer& b, std::uint64_t v) {
  const fmt::format_int f(static_cast<unsigned long long>(v));
  b.append(f.data(), f.data() + f.size());
}
inline void put_i(fmt::memory_buffer& b, std::int64_t v) {
  const fmt::format_int f(static_cast<long long>(v));
  b.append(f.data(), f.data() + f.size());
}
// s, then spaces up to `width` (left-aligned), or spaces first (right-aligned).
inline void put_padded(fmt::memory_buffer& b, std::string_view s, std::size_t width,
                       bool right = false) {
  static constexpr std::string_view spaces = "                                        ";
  const std::size_t pad = s.size() < width ? std::min(width - s.size(), spaces.size()) : 0;
  if (right) b.append(spaces.substr(0, pad));
  b.append(s);
  if (!right) b.append(spaces.substr(0, pad));
}
inline void put_u_padded(fmt::memory_buffer& b, std::uint64_t v, std::size_t width) {
  const fmt::format_int f(static_cast<unsigned long long>(v));
  put_padded(b, std::string_view(f.data(), f.size()), width, true);
}

// Formats wall-clock nanoseconds as RFC 3339 UTC with milliseconds ("2026-11-25T10:00:00.123Z"),
// computing the calendar date arithmetically (no gmtime, no locale) and caching the last
// second's prefix.
class TimeFormatter {
 public:
  void append(fmt::memory_buffer& out, std::int64_t wall_ns);
  std::string format(std::int64_t wall_ns);

 private:
  std::int64_t cached_second_ = INT64_MIN;
  char prefix_[24] = {};
  std::size_t prefix_size_ = 0;
};

// "+12ms", "+1.500s", "+2m03s": the time between two records of a trace.
std::string format_delta(std::int64_t ns);
// "4.0 KiB", "1.2 GiB".
std::string format_bytes(std::uint64_t bytes);

void append_json_string(fmt::memory_buffer& out, std::string_view s);
void append_csv_field(fmt::memory_buffer& out, std::string_view s);
// A value for a "key=value" text line: bare if it has no space, quote or '=', else quoted.
void append_text_value(fmt::memory_buffer& out, std::string_view s);

// Writes the buffer to the stream and clears it once it holds more than `threshold` bytes.
inline void flush_if(fmt::memory_buffer& buf, std::ostream& out, std::size_t threshold) {
  if (buf.size() < threshold) return;
  out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
  buf.clear();
}

// A table whose columns are as wide as their widest cell. Cells may carry ANSI colour codes
// (they do not count towards the width). Numbers are right-aligned when `right` is set.
class Table {
 public:
  explicit Table(std::vector<std::string> header, std::vector<bool> right = {});
  void add(std::vector<std::string> row);
  void print(std::ostream& out, const Style& style) const;
  std::size_t rows() const noexcept { return rows_.size(); }

 private:
  std::vector<std::string> header_;
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace flashsaga::tools
