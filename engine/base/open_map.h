// OpenMap: a flat hash map from a 16-byte key to a trivially copyable value, for the hot path.
//
// Open addressing with linear probing over a power-of-two slot array; deletion shifts the
// following run back (no tombstones), so probes stay short however many keys come and go.
// The slot array doubles when it is more than half full: an allocation that happens only
// while a map grows, never in steady state.
//
// Requires: one thread. Value trivially copyable. Keys are any pair of u64 except (0, 0)'s
//   use as "empty" is avoided by a separate occupied flag, so every key is valid.
// Guarantees: find/insert/erase expected O(1); pointers returned by find() stay valid until
//   the next insert or erase.
//
// Example:
//   OpenMap<std::int64_t> live(1024);
//   live.upsert({user, product}) += 1;
//   if (const std::int64_t* units = live.find({user, product})) ...
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "engine/base/assert.h"

namespace flashsaga {

struct Key2 {
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  friend bool operator==(const Key2&, const Key2&) = default;
};

template <typename Value>
class OpenMap {
  static_assert(std::is_trivially_copyable_v<Value>);

 public:
  explicit OpenMap(std::size_t initial_slots = 64) { reset(initial_slots); }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  Value* find(const Key2& key) noexcept {
    for (std::size_t i = home(key), n = 0; n < slots_.size(); i = (i + 1) & mask_, ++n) {
      Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.key == key) return &s.value;
    }
    return nullptr;
  }
  const Value* find(const Key2& key) const noexcept {
    return const_cast<OpenMap*>(this)->find(key);
  }

  // The value under key, inserted value-initialised if absent.
  Value& upsert(const Key2& key) {
    if (Value* v = find(key)) return *v;
    if ((size_ + 1) * 2 > slots_.size()) grow();
    for (std::size_t i = home(key), n = 0; n < slots_.size(); i = (i + 1) & mask_, ++n) {
      Slot& s = slots_[i];
      if (s.used) continue;
      s = Slot{key, Value{}, true};
      ++size_;
      return s.value;
    }
    FS_ASSERT(false && "an OpenMap at most half full always has a free slot");
    __builtin_unreachable();
  }

  bool erase(const Key2& key) noexcept {
    std::size_t i = home(key);
    for (std::size_t n = 0;; i = (i + 1) & mask_, ++n) {
      if (n == slots_.size() || !slots_[i].used) return false;
      if (slots_[i].key == key) break;
    }
    // Shift the rest of the run back over the hole, keeping every key reachable from its home.
    std::size_t hole = i;
    for (std::size_t j = (i + 1) & mask_, n = 0; n < slots_.size() && slots_[j].used;
         j = (j + 1) & mask_, ++n) {
      const std::size_t h = home(slots_[j].key);
      const bool movable = hole <= j ? (h <= hole || h > j) : (h <= hole && h > j);
      if (!movable) continue;
      slots_[hole] = slots_[j];
      hole = j;
    }
    slots_[hole].used = false;
    --size_;
    return true;
  }

  void clear() noexcept {
    for (Slot& s : slots_) s.used = false;
    size_ = 0;
  }

  // Visits every entry (order unspecified).
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (const Slot& s : slots_)
      if (s.used) fn(s.key, s.value);
  }

 private:
  struct Slot {
    Key2 key;
    Value value;
    bool used = false;
  };

  static std::uint64_t mix(std::uint64_t x) noexcept {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
  }
  std::size_t home(const Key2& k) const noexcept {
    return static_cast<std::size_t>(mix(k.a * 0x9E3779B97F4A7C15ull ^ k.b)) & mask_;
  }

  void reset(std::size_t slots) {
    std::size_t n = 16;
    while (n < slots) n *= 2;
    slots_.assign(n, Slot{});
    mask_ = n - 1;
    size_ = 0;
  }

  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    reset(old.size() * 2);
    for (const Slot& s : old)
      if (s.used) upsert(s.key) = s.value;
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace flashsaga
