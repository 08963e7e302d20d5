#include "engine/gateway/idempotency.h"

#include "engine/base/assert.h"
#include "engine/base/clock.h"

namespace flashsaga::gateway {

std::uint64_t hash64(std::string_view bytes, std::uint64_t seed) noexcept {
  return hash64_concat({bytes}, seed);
}

std::uint64_t hash64_concat(std::initializer_list<std::string_view> parts,
                            std::uint64_t seed) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull ^ (seed * 0x9E3779B97F4A7C15ull);
  for (const std::string_view bytes : parts) {
    for (const char c : bytes) {
      h ^= static_cast<unsigned char>(c);
      h *= 0x100000001b3ull;
    }
  }
  // splitmix64's finalizer: FNV alone mixes the last bytes poorly.
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
  h ^= h >> 31;
  return h == 0 ? 1 : h;
}

Idempotency::Idempotency(std::size_t capacity, std::int64_t retention_ns)
    : capacity_((capacity + idempotency_shards_count - 1) / idempotency_shards_count),
      retention_ns_(retention_ns) {
  FS_ASSERT(capacity >= 1);
  FS_ASSERT(retention_ns > 0);
}

Idempotency::Shard& Idempotency::shard_of(const std::string& key) noexcept {
  return shards_[hash64(key) & (idempotency_shards_count - 1)];
}

std::size_t Idempotency::size() const {
  std::size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mutex);
    n += s.entries.size();
  }
  return n;
}

std::uint64_t Idempotency::replays() const noexcept {
  std::uint64_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mutex);
    n += s.replays;
  }
  return n;
}

void Idempotency::evict_locked(Shard& shard, std::int64_t now_ns) {
  auto& order = shard.order;
  auto& entries = shard.entries;
  // Each deque element is looked at most once per call: the loop is bounded by its size.
  for (std::size_t budget = order.size(); budget > 0 && !order.empty(); --budget) {
    auto& [key, created] = order.front();
    auto it = entries.find(key);
    const bool stale = it == entries.end() || it->second.created_ns != created;
    if (stale) {
      order.pop_front();
      continue;
    }
    const bool expired = now_ns - created > retention_ns_;
    const bool over = entries.size() > capacity_ || order.size() > 2 * capacity_;
    if (!expired && !over) break;
    if (!it->second.done) {
      // Still in progress: its waiters need it. Keep it, at the back.
      order.push_back(std::move(order.front()));
      order.pop_front();
      continue;
    }
    entries.erase(it);
    order.pop_front();
  }
}

Idempotency::Admit Idempotency::begin(const std::string& key, std::uint64_t fingerprint,
                                      Waiter waiter, Response* stored, IdempotencyTicket* ticket) {
  const std::int64_t now = mono_now_ns();
  Shard& shard = shard_of(key);
  std::lock_guard<std::mutex> lock(shard.mutex);
  evict_locked(shard, now);
  auto it = shard.entries.find(key);
  if (it != shard.entries.end() && now - it->second.created_ns > retention_ns_ && it->second.done) {
    shard.entries.erase(it);
    it = shard.entries.end();
  }
  if (it == shard.entries.end()) {
    Entry e;
    e.fingerprint = fingerprint;
    e.created_ns = now;
    const auto placed = shard.entries.emplace(key, std::move(e)).first;
    shard.order.emplace_back(key, now);
    if (ticket) *ticket = IdempotencyTicket{&placed->first, fingerprint};
    return Admit::fresh;
  }
  Entry& e = it->second;
  if (e.fingerprint != fingerprint) return Admit::mismatch;
  if (e.done) {
    ++shard.replays;
    *stored = e.response;
    return Admit::replay;
  }
  if (e.waiters.size() >= idempotency_waiters_max) return Admit::busy;
  ++shard.replays;
  e.waiters.push_back(std::move(waiter));
  return Admit::wait;
}

void Idempotency::finish(const std::string& key, std::uint64_t fingerprint,
                         const Response& response) {
  std::vector<Waiter> waiters;
  Shard& shard = shard_of(key);
  {
    std::lock_guard<std::mutex> lock(shard.mutex);
    auto it = shard.entries.find(key);
    if (it == shard.entries.end() || it->second.fingerprint != fingerprint || it->second.done)
      return;
    waiters.swap(it->second.waiters);
    if (response.status >= 500) {
      shard.entries.erase(it);  // nothing changed: a retry with this key may go ahead
    } else {
      it->second.done = true;
      it->second.response = response;
      it->second.response.replayed = true;
    }
  }
  if (waiters.empty()) return;
  Response replay = response;
  replay.replayed = true;
  for (Waiter& w : waiters) w(replay);
}

}  // namespace flashsaga::gateway
