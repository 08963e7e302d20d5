#include "engine/gateway/idempotency.h"

#include "engine/base/assert.h"
#include "engine/base/clock.h"

namespace flashsaga::gateway {

std::uint64_t hash64(std::string_view bytes, std::uint64_t seed) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull ^ (seed * 0x9E3779B97F4A7C15ull);
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  // splitmix64's finalizer: FNV alone mixes the last bytes poorly.
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
  h ^= h >> 31;
  return h == 0 ? 1 : h;
}

Idempotency::Idempotency(std::size_t capacity, std::int64_t retention_ns)
    : capacity_(capacity), retention_ns_(retention_ns) {
  FS_ASSERT(capacity >= 1);
  FS_ASSERT(retention_ns > 0);
}

std::size_t Idempotency::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

std::uint64_t Idempotency::replays() const noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  return replays_;
}

void Idempotency::evict_locked(std::int64_t now_ns) {
  // Each deque element is looked at most once per call: the loop is bounded by its size.
  for (std::size_t budget = order_.size(); budget > 0 && !order_.empty(); --budget) {
    auto& [key, created] = order_.front();
    auto it = entries_.find(key);
    const bool stale = it == entries_.end() || it->second.created_ns != created;
    if (stale) {
      order_.pop_front();
      continue;
    }
    const bool expired = now_ns - created > retention_ns_;
    const bool over = entries_.size() > capacity_ || order_.size() > 2 * capacity_;
    if (!expired && !over) break;
    if (!it->second.done) {
      // Still in progress: its waiters need it. Keep it, at the back.
      order_.push_back(std::move(order_.front()));
      order_.pop_front();
      continue;
    }
    entries_.erase(it);
    order_.pop_front();
  }
}

Idempotency::Admit Idempotency::begin(const std::string& key, std::uint64_t fingerprint, Waiter waiter,
                                      Response* stored) {
  const std::int64_t now = mono_now_ns();
  std::lock_guard<std::mutex> lock(mutex_);
  evict_locked(now);
  auto it = entries_.find(key);
  if (it != entries_.end() && now - it->second.created_ns > retention_ns_ && it->second.done) {
    entries_.erase(it);
    it = entries_.end();
  }
  if (it == entries_.end()) {
    Entry e;
    e.fingerprint = fingerprint;
    e.created_ns = now;
    entries_.emplace(key, std::move(e));
    order_.emplace_back(key, now);
    return Admit::fresh;
  }
  Entry& e = it->second;
  if (e.fingerprint != fingerprint) return Admit::mismatch;
  if (e.done) {
    ++replays_;
    *stored = e.response;
    return Admit::replay;
  }
  if (e.waiters.size() >= idempotency_waiters_max) return Admit::busy;
  ++replays_;
  e.waiters.push_back(std::move(waiter));
  return Admit::wait;
}

void Idempotency::finish(const std::string& key, std::uint64_t fingerprint, const Response& response) {
  std::vector<Waiter> waiters;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.fingerprint != fingerprint || it->second.done) return;
    waiters.swap(it->second.waiters);
    if (response.status >= 500) {
      entries_.erase(it);  // nothing changed: a retry with this key may go ahead
    } else {
      it->second.done = true;
      it->second.response = response;
      it->second.response.replayed = true;
    }
  }
  Response replay = response;
  replay.replayed = true;
  for (Waiter& w : waiters) w(replay);
}

}  // namespace flashsaga::gateway
