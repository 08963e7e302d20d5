// SPSC ring: a single-producer single-consumer queue of Messages in shared memory.
//
// Requires: exactly one RingProducer and one RingConsumer per ring at a time, each used by one
//   thread (usually in different processes). The region is 64-byte aligned, region_bytes() long,
//   and formatted once (by the segment's creator) before either side attaches. Capacity is a
//   power of two in [ring_capacity_slots_min, ring_capacity_slots_max].
// Guarantees: fixed 256-byte slots; a full ring pushes back (try_publish returns false) and
//   never overwrites an unread slot; a message becomes visible only whole (copied first, then
//   published by one cursor store), so a producer killed at any instant leaves nothing torn;
//   a consumer frees slots only when it calls release(), so a consumer killed before release
//   re-reads the same messages after restart. Nothing on the publish/consume path allocates,
//   locks, throws or makes a system call (except the doorbell's FUTEX_WAKE when a consumer
//   sleeps). Layout and offsets: ring_descriptor.h.
//
// Memory ordering (rigtorp/SPSCQueue style; every atomic access names its order):
//   producer: copy message(s) into slots; producer_cursor.store(release)  -- publishes data
//             consumer_cursor.load(acquire) only when its cached copy says "full", so the
//             consumer's reads of a slot happen-before the producer reuses it
//   consumer: producer_cursor.load(acquire) only when its cached copy is exhausted, so
//             peek(i) for i < readable() sees the fully written message
//             consumer_cursor.store(release) in release(), after it finished reading
//   acked_sequence: store(release) by the consumer, load(acquire) by the producer.
//   full_events, depth(): relaxed (metrics).
//   Each side keeps its own cursor and a cached copy of the other side's cursor in its
//   process-local RingProducer / RingConsumer, so the common case touches no shared line but
//   the slot itself. The doorbell ring after a publish carries its own seq_cst fence.
//
// Example:
//   void* region = segment.payload() + ring_offset;                  // laid out by the engine
//   SpscRing ring = SpscRing::format(region, 4096, Node{Domain::port, 0}, Node{Domain::order});
//   RingProducer producer(ring, &order_bell);                         // in the gateway
//   if (!producer.try_publish(message)) { /* full: back-pressure, retry later */ }
//
//   SpscRing view;                                                     // in the order domain
//   if (!SpscRing::attach(region, view, &error)) { /* refuse to start, log error */ }
//   RingConsumer consumer(view);
//   const std::size_t n = std::min<std::size_t>(consumer.readable(), drain_count_max);
//   for (std::size_t i = 0; i < n; ++i) handle(consumer.peek(i));
//   commit_journal();  consumer.release(n);  view.store_acked(last_sequence);
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "engine/base/assert.h"
#include "engine/base/limits.h"
#include "ipc/doorbell.h"
#include "ipc/message.h"
#include "ipc/ring_descriptor.h"

namespace flashsaga::ipc {

class SpscRing {  // a non-owning view over one ring region in shared memory
 public:
  static std::size_t region_bytes(std::uint32_t capacity_slots) noexcept;
  // Formats a fresh ring in `region` (64-byte aligned, region_bytes() long). capacity: power of
  // two within [ring_capacity_slots_min, ring_capacity_slots_max] (assert). Both cursors start
  // at 0; slot contents are left as they are (never read before being published).
  static SpscRing format(void* region, std::uint32_t capacity_slots, Node from, Node to) noexcept;
  // Attaches to a formatted ring; false with *error set on magic/version/geometry mismatch
  // (the message names expected and found versions). error may be nullptr.
  static bool attach(void* region, SpscRing& out, std::string* error) noexcept;
  // As above, and also false if the ring's region_bytes exceeds available_bytes.
  static bool attach(void* region, std::size_t available_bytes, SpscRing& out,
                     std::string* error) noexcept;

  SpscRing() = default;
  std::uint32_t capacity() const noexcept { return capacity_; }
  Node from() const noexcept;
  Node to() const noexcept;
  std::uint64_t depth() const noexcept;        // published - consumed (approximate, for metrics)
  std::uint64_t full_events() const noexcept;  // times a producer found it full
  // The consumer's durable position: the highest message sequence the consumer has committed
  // (written by the consumer after its journal commit; read by the producer to prune its outbox).
  void store_acked(std::uint64_t sequence) noexcept;
  std::uint64_t load_acked() const noexcept;
  bool valid() const noexcept { return control_ != nullptr; }

  // Raw cursors, for the two sides' constructors, metrics and tests.
  std::uint64_t load_producer_cursor(std::memory_order order) const noexcept {
    return cursor_ref(control_->producer.cursor).load(order);
  }
  std::uint64_t load_consumer_cursor(std::memory_order order) const noexcept {
    return cursor_ref(control_->consumer.cursor).load(order);
  }
  // Frees every slot before `cursor` (a release store of the consumer cursor). For a reader
  // that reads ahead of what it frees (RingReader): the thread that makes its batches durable
  // calls this, never the one reading.
  void store_consumer_cursor(std::uint64_t cursor) noexcept {
    cursor_ref(control_->consumer.cursor).store(cursor, std::memory_order_release);
  }
  // The region this view covers (its control block starts here).
  void* region() const noexcept { return control_; }

 private:
  friend class RingProducer;
  friend class RingConsumer;
  friend class RingReader;

  static std::atomic_ref<std::uint64_t> cursor_ref(std::uint64_t& word) noexcept {
    return std::atomic_ref<std::uint64_t>(word);
  }

  ring_descriptor::Control* control_ = nullptr;
  Message* slots_ = nullptr;
  std::uint32_t capacity_ = 0;
  std::uint32_t mask_ = 0;
};

class RingProducer {
 public:
  RingProducer() = default;
  // Resumes from the ring's current producer cursor (so a restarted producer continues where
  // the dead one published last). bell may be nullptr (no consumer to wake).
  RingProducer(SpscRing ring, Doorbell* consumer_bell) noexcept;
  // Copies m into the next slot and publishes it (release store of the write cursor), then rings
  // the doorbell. False when full (and counts a full event); never overwrites unread slots.
  [[nodiscard]] bool try_publish(const Message& m) noexcept;
  // Publishes the longest prefix of ms that fits, with one cursor store and one doorbell ring.
  // Returns how many were published; counts a full event when not all of ms fit.
  [[nodiscard]] std::size_t try_publish_batch(std::span<const Message> ms) noexcept;
  // Slots free right now (refreshes the cached consumer cursor).
  std::size_t free_slots() noexcept;
  const SpscRing& ring() const noexcept { return ring_; }

 private:
  void count_full_event() noexcept;
  std::uint64_t free_slots_cached() const noexcept;

  SpscRing ring_;
  Doorbell* bell_ = nullptr;
  std::uint64_t head_ = 0;         // our producer cursor (we are its only writer)
  std::uint64_t cached_tail_ = 0;  // last consumer cursor we loaded (<= the real one)
};

class RingConsumer {
 public:
  RingConsumer() = default;
  // Resumes from the ring's current consumer cursor: messages published but never released
  // (e.g. by a consumer that died before its commit) are readable again.
  explicit RingConsumer(SpscRing ring) noexcept;
  // Number of published, unreleased messages (refreshes the cached producer cursor only when
  // the cached view is exhausted). Acquire ordering: peek(i) for i < readable() sees full data.
  std::size_t readable() noexcept;
  // Refreshes the cached producer cursor unconditionally, then returns readable().
  std::size_t refresh() noexcept;
  const Message& peek(std::size_t i) const noexcept;  // points into shared memory
  // Frees the first n readable slots (release store of the read cursor). A consumer calls this
  // only after the batch those messages belong to is durable — so a consumer that crashes
  // re-reads them.
  void release(std::size_t n) noexcept;
  const SpscRing& ring() const noexcept { return ring_; }

 private:
  SpscRing ring_;
  std::uint64_t tail_ = 0;         // our consumer cursor (we are its only writer)
  std::uint64_t cached_head_ = 0;  // last producer cursor we loaded (<= the real one)
};

// A consumer whose reading runs ahead of its freeing, for a pipelined domain: the business
// thread reads and advances (readable/peek/advance) while the committing thread frees slots
// up to a read position once the batch that read them is durable (SpscRing::
// store_consumer_cursor). Slots between the freed cursor and the read position stay the
// consumer's: the producer only sees the freed one, so it never overwrites them, and a
// consumer that dies re-reads them.
class RingReader {
 public:
  RingReader() = default;
  explicit RingReader(SpscRing ring) noexcept;
  std::size_t readable() noexcept {
    if (cached_head_ == read_) {
      cached_head_ =
          SpscRing::cursor_ref(ring_.control_->producer.cursor).load(std::memory_order_acquire);
    }
    return static_cast<std::size_t>(cached_head_ - read_);
  }
  const Message& peek(std::size_t i) const noexcept {
    FS_ASSERT(i < cached_head_ - read_);
    return ring_.slots_[(read_ + i) & ring_.mask_];
  }
  void advance(std::size_t n) noexcept {
    FS_ASSERT(n <= cached_head_ - read_);
    read_ += n;
  }
  std::uint64_t position() const noexcept { return read_; }
  const SpscRing& ring() const noexcept { return ring_; }

 private:
  SpscRing ring_;
  std::uint64_t read_ = 0;
  std::uint64_t cached_head_ = 0;
};

// --- Hot path, inline ---------------------------------------------------------------------

inline std::uint64_t RingProducer::free_slots_cached() const noexcept {
  return ring_.capacity_ - (head_ - cached_tail_);
}

inline bool RingProducer::try_publish(const Message& m) noexcept {
  FS_ASSERT(ring_.valid());
  if (head_ - cached_tail_ >= ring_.capacity_) {
    cached_tail_ =
        SpscRing::cursor_ref(ring_.control_->consumer.cursor).load(std::memory_order_acquire);
    FS_ASSERT(head_ - cached_tail_ <= ring_.capacity_);
    if (head_ - cached_tail_ == ring_.capacity_) {
      count_full_event();
      return false;
    }
  }
  std::memcpy(&ring_.slots_[head_ & ring_.mask_], &m, sizeof(Message));
  ++head_;
  SpscRing::cursor_ref(ring_.control_->producer.cursor).store(head_, std::memory_order_release);
  if (bell_ != nullptr) doorbell_ring(*bell_);
  return true;
}

inline std::size_t RingProducer::try_publish_batch(std::span<const Message> ms) noexcept {
  FS_ASSERT(ring_.valid());
  if (ms.empty()) return 0;
  if (free_slots_cached() < ms.size()) {
    cached_tail_ =
        SpscRing::cursor_ref(ring_.control_->consumer.cursor).load(std::memory_order_acquire);
    FS_ASSERT(head_ - cached_tail_ <= ring_.capacity_);
  }
  const std::size_t n = ms.size() < free_slots_cached() ? ms.size() : free_slots_cached();
  if (n < ms.size()) count_full_event();
  if (n == 0) return 0;
  const std::size_t first = head_ & ring_.mask_;
  const std::size_t until_wrap = ring_.capacity_ - first;
  const std::size_t part = n < until_wrap ? n : until_wrap;
  std::memcpy(&ring_.slots_[first], ms.data(), part * sizeof(Message));
  if (part < n) std::memcpy(&ring_.slots_[0], ms.data() + part, (n - part) * sizeof(Message));
  head_ += n;
  SpscRing::cursor_ref(ring_.control_->producer.cursor).store(head_, std::memory_order_release);
  if (bell_ != nullptr) doorbell_ring(*bell_);
  return n;
}

inline std::size_t RingConsumer::readable() noexcept {
  FS_ASSERT(ring_.valid());
  if (cached_head_ == tail_) return refresh();
  return static_cast<std::size_t>(cached_head_ - tail_);
}

inline std::size_t RingConsumer::refresh() noexcept {
  cached_head_ =
      SpscRing::cursor_ref(ring_.control_->producer.cursor).load(std::memory_order_acquire);
  FS_ASSERT(cached_head_ - tail_ <= ring_.capacity_);
  return static_cast<std::size_t>(cached_head_ - tail_);
}

inline const Message& RingConsumer::peek(std::size_t i) const noexcept {
  FS_ASSERT(i < cached_head_ - tail_);
  return ring_.slots_[(tail_ + i) & ring_.mask_];
}

inline void RingConsumer::release(std::size_t n) noexcept {
  FS_ASSERT(n <= cached_head_ - tail_);
  if (n == 0) return;
  tail_ += n;
  SpscRing::cursor_ref(ring_.control_->consumer.cursor).store(tail_, std::memory_order_release);
}

}  // namespace flashsaga::ipc
