#include "tools/inspector/output.h"

#include <unistd.h>

#include <cstdlib>

namespace flashsaga::tools {

bool stdout_wants_color() noexcept {
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color != nullptr && no_color[0] != '\0') return false;
  return ::isatty(STDOUT_FILENO) == 1;
}

void TimeFormatter::append(fmt::memory_buffer& out, std::int64_t wall_ns) {
  constexpr std::int64_t ns_per_s = 1'000'000'000;
  std::int64_t second = wall_ns / ns_per_s;
  std::int64_t rest = wall_ns % ns_per_s;
  if (rest < 0) {
    rest += ns_per_s;
    second -= 1;
  }
  if (second != cached_second_) {
    cached_second_ = second;
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm, proleptic Gregorian).
    std::int64_t days = second / 86'400;
    std::int64_t secs = second % 86'400;
    if (secs < 0) {
      secs += 86'400;
      days -= 1;
    }
    const std::int64_t z = days + 719'468;
    const std::int64_t era = (z >= 0 ? z : z - 146'096) / 146'097;
    const std::int64_t doe = z - era * 146'097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
    const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
    const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    if (year < 0 || year > 9999) {
      const auto r =
          fmt::format_to_n(prefix_, sizeof prefix_ - 1, "{}-{:02}-{:02}T{:02}:{:02}:{:02}", year,
                           month, day, secs / 3600, secs / 60 % 60, secs % 60);
      prefix_size_ = r.size < sizeof prefix_ ? r.size : sizeof prefix_ - 1;
    } else {
      char* p = prefix_;
      const auto two = [&p](std::int64_t v, char after) {
        *p++ = static_cast<char>('0' + v / 10);
        *p++ = static_cast<char>('0' + v % 10);
        if (after != 0) *p++ = after;
      };
      two(year / 100, 0);
      two(year % 100, '-');
      two(month, '-');
      two(day, 'T');
      two(secs / 3600, ':');
      two(secs / 60 % 60, ':');
      two(secs % 60, 0);
      prefix_size_ = static_cast<std::size_t>(p - prefix_);
    }
  }
  out.append(prefix_, prefix_ + prefix_size_);
  const auto ms = static_cast<int>(rest / 1'000'000);
  const char frac[6] = {'.',
                        static_cast<char>('0' + ms / 100),
                        static_cast<char>('0' + ms / 10 % 10),
                        static_cast<char>('0' + ms % 10),
                        'Z',
                        '\0'};
  out.append(frac, frac + 5);
}

std::string TimeFormatter::format(std::int64_t wall_ns) {
  fmt::memory_buffer b;
  append(b, wall_ns);
  return fmt::to_string(b);
}

std::string format_delta(std::int64_t ns) {
  const bool negative = ns < 0;
  const std::int64_t a = negative ? -ns : ns;
  const char* sign = negative ? "-" : "+";
  if (a < 1'000'000) return fmt::format("{}{}us", sign, a / 1000);
  if (a < 1'000'000'000) return fmt::format("{}{}ms", sign, a / 1'000'000);
  if (a < 60'000'000'000) return fmt::format("{}{:.3f}s", sign, static_cast<double>(a) / 1e9);
  const std::int64_t s = a / 1'000'000'000;
  if (s < 3600) return fmt::format("{}{}m{:02}s", sign, s / 60, s % 60);
  return fmt::format("{}{}h{:02}m", sign, s / 3600, s / 60 % 60);
}

std::string format_bytes(std::uint64_t bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

void append_json_string(fmt::memory_buffer& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out.append(std::string_view("\\\""));
        break;
      case '\\':
        out.append(std::string_view("\\\\"));
        break;
      case '\n':
        out.append(std::string_view("\\n"));
        break;
      case '\r':
        out.append(std::string_view("\\r"));
        break;
      case '\t':
        out.append(std::string_view("\\t"));
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", u);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void append_csv_field(fmt::memory_buffer& out, std::string_view s) {
  if (s.find_first_of(",\"\n\r") == std::string_view::npos) {
    out.append(s);
    return;
  }
  out.push_back('"');
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

void append_text_value(fmt::memory_buffer& out, std::string_view s) {
  if (!s.empty() && s.find_first_of(" \"=\t\n") == std::string_view::npos) {
    out.append(s);
    return;
  }
  append_json_string(out, s);
}

namespace {
std::size_t visible_width(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\x1b') {
      while (i < s.size() && s[i] != 'm') ++i;
      continue;
    }
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++n;  // count UTF-8 code points
  }
  return n;
}
}  // namespace

Table::Table(std::vector<std::string> header, std::vector<bool> right)
    : header_(std::move(header)), right_(std::move(right)) {
  right_.resize(header_.size(), false);
}

void Table::add(std::vector<std::string> row) {
  row.resize(header_.size());
  rows_.push_back(std::move(row));
}

void Table::print(std::ostream& out, const Style& style) const {
  std::vector<std::size_t> width(header_.size(), 0);
  for (std::size_t c = 0; c < header_.size(); ++c) width[c] = visible_width(header_[c]);
  for (const auto& row : rows_)
    for (std::size_t c = 0; c < row.size(); ++c)
      width[c] = std::max(width[c], visible_width(row[c]));
  auto line = [&](const std::vector<std::string>& row, bool head) {
    std::string s;
    if (head) s += style.bold();
    for (std::size_t c = 0; c < row.size(); ++c) {
      const std::size_t pad = width[c] - visible_width(row[c]);
      const bool last = c + 1 == row.size();
      if (right_[c]) s.append(pad, ' ');
      s += row[c];
      if (!right_[c] && !last) s.append(pad, ' ');
      if (!last) s += "  ";
    }
    if (head) s += style.reset();
    while (!s.empty() && s.back() == ' ') s.pop_back();
    out << s << '\n';
  };
  line(header_, true);
  for (const auto& row : rows_) line(row, false);
}

}  // namespace flashsaga::tools
