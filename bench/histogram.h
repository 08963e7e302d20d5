// histogram: an HDR-style latency histogram — log-linear buckets, ~1.6% relative precision,
// fixed memory (no allocation after construction), values in nanoseconds up to ~2^40 (18 min).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace flashsaga::bench {

class LatencyHistogram {
 public:
  static constexpr int sub_bits = 6;  // 64 sub-buckets per power of two
  static constexpr int magnitudes = 40;
  static constexpr std::size_t bucket_count = (magnitudes + 1) << sub_bits;

  void record(std::int64_t value_ns) noexcept {
    const std::uint64_t v = value_ns < 0 ? 0 : static_cast<std::uint64_t>(value_ns);
    ++counts_[index(v)];
    ++total_;
    max_ = std::max(max_, v);
  }
  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t max() const noexcept { return max_; }
  // The value at quantile q (0..1): the upper edge of the bucket holding it, capped at max().
  std::uint64_t quantile(double q) const noexcept {
    if (total_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(upper(i), max_);
    }
    return max_;
  }

 private:
  static std::size_t index(std::uint64_t v) noexcept {
    if (v < (1u << sub_bits)) return static_cast<std::size_t>(v);
    const int msb = 63 - std::countl_zero(v);
    const int shift = std::min(msb - sub_bits, magnitudes);
    const std::uint64_t sub = std::min<std::uint64_t>(v >> shift, (1u << sub_bits) * 2 - 1);
    return static_cast<std::size_t>(shift) * (1u << sub_bits) +
           static_cast<std::size_t>(sub - (1u << sub_bits)) + (1u << sub_bits);
  }
  static std::uint64_t upper(std::size_t i) noexcept {
    if (i < (1u << sub_bits)) return i;
    const std::size_t shift = (i - (1u << sub_bits)) >> sub_bits;
    const std::uint64_t sub = ((i - (1u << sub_bits)) & ((1u << sub_bits) - 1)) + (1u << sub_bits);
    return ((sub + 1) << shift) - 1;
  }
  std::array<std::uint64_t, bucket_count + (1u << sub_bits)> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace flashsaga::bench
