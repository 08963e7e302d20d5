// idempotency: the gateway's memory of POST requests that carried an Idempotency-Key.
//
// Requires: nothing; any thread may call anything. The table is split in
//   idempotency_shards_count shards by the key's hash, each with its own mutex (held for table
//   updates only, never while a response is written or a callback runs), so the I/O threads
//   do not meet on one lock.
// Guarantees:
//   - the first request with a key is admitted (`fresh`) and its key is `in progress` until
//     finish() stores its answer;
//   - a repeat with the same fingerprint (method, path, body) gets the stored answer
//     (`replay`), or, while the first is still in progress, waits for it (`wait`: its
//     callback runs once the first finishes);
//   - a repeat with another fingerprint is refused (`mismatch`);
//   - answers 5xx are not kept (nothing changed; a retry may succeed): the entry is dropped
//     and the waiters get that same answer;
//   - entries live retention_ns, and at most capacity of them (capacity / shards per shard,
//     rounded up): the oldest of a shard go first.
//
// Example:
//   switch (table.begin(key, fp, waiter, &stored)) {
//     case Idempotency::Admit::fresh: ...handle...; table.finish(key, fp, response); break;
//     case Idempotency::Admit::replay: respond(stored); break;
//     ...
//   }
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/gateway/exchange.h"

namespace flashsaga::gateway {

inline constexpr std::size_t idempotency_entries_max = 1u << 16;
inline constexpr std::size_t idempotency_key_bytes_max = 255;
inline constexpr std::size_t idempotency_waiters_max = 1024;  // per key
inline constexpr std::size_t idempotency_shards_count = 16;
static_assert((idempotency_shards_count & (idempotency_shards_count - 1)) == 0);

// 64-bit FNV-1a followed by a finalizer; never returns 0 (0 means "no key" on the wire).
std::uint64_t hash64(std::string_view bytes, std::uint64_t seed = 0) noexcept;
// hash64 of the parts' concatenation, without building it.
std::uint64_t hash64_concat(std::initializer_list<std::string_view> parts,
                            std::uint64_t seed = 0) noexcept;

class Idempotency {
 public:
  enum class Admit : std::uint8_t { fresh = 0, replay = 1, wait = 2, mismatch = 3, busy = 4 };
  using Waiter = std::function<void(const Response&)>;

  Idempotency(std::size_t capacity, std::int64_t retention_ns);

  // `busy`: too many requests already wait on this key. On `fresh`, *ticket (if given) names
  // the entry until finish().
  Admit begin(const std::string& key, std::uint64_t fingerprint, Waiter waiter, Response* stored,
              IdempotencyTicket* ticket = nullptr);
  // Stores the answer of the fresh request and runs the waiters (outside the lock).
  void finish(const std::string& key, std::uint64_t fingerprint, const Response& response);
  void finish(const IdempotencyTicket& ticket, const Response& response) {
    finish(*ticket.key, ticket.fingerprint, response);
  }

  std::size_t size() const;
  std::uint64_t replays() const noexcept;

 private:
  struct Entry {
    std::uint64_t fingerprint = 0;
    std::int64_t created_ns = 0;
    bool done = false;
    Response response;
    std::vector<Waiter> waiters;
  };
  struct alignas(64) Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, Entry> entries;
    std::deque<std::pair<std::string, std::int64_t>> order;  // (key, created_ns), oldest first
    std::uint64_t replays = 0;
  };
  Shard& shard_of(const std::string& key) noexcept;
  void evict_locked(Shard& shard, std::int64_t now_ns);

  const std::size_t capacity_;  // per shard
  const std::int64_t retention_ns_;
  std::array<Shard, idempotency_shards_count> shards_;
};

}  // namespace flashsaga::gateway
