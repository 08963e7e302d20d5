#include "ipc/spsc_ring.h"

#include <bit>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <new>

namespace flashsaga::ipc {
namespace {

namespace rd = ring_descriptor;

bool capacity_ok(std::uint32_t capacity_slots) noexcept {
  return std::has_single_bit(capacity_slots) && capacity_slots >= ring_capacity_slots_min &&
         capacity_slots <= ring_capacity_slots_max;
}

__attribute__((format(printf, 2, 3))) bool fail(std::string* error, const char* format,
                                                ...) noexcept {
  if (error != nullptr) {
    char text[256];
    va_list args;
    va_start(args, format);
    std::vsnprintf(text, sizeof(text), format, args);
    va_end(args);
    *error = text;
  }
  return false;
}

std::atomic_ref<std::uint32_t> magic_ref(rd::Control* control) noexcept {
  return std::atomic_ref<std::uint32_t>(control->header.magic);
}

}  // namespace

std::size_t SpscRing::region_bytes(std::uint32_t capacity_slots) noexcept {
  return rd::region_bytes_for(capacity_slots);
}

SpscRing SpscRing::format(void* region, std::uint32_t capacity_slots, Node from, Node to) noexcept {
  FS_ASSERT(region != nullptr);
  FS_ASSERT(reinterpret_cast<std::uintptr_t>(region) % rd::region_alignment_bytes == 0);
  FS_ASSERT(std::has_single_bit(capacity_slots));
  FS_ASSERT(capacity_slots >= ring_capacity_slots_min);
  FS_ASSERT(capacity_slots <= ring_capacity_slots_max);

  // Begin the control block's lifetime with every byte zero, then fill the header. The magic
  // goes in last with a release store, so an attach() that sees it sees a whole header.
  auto* control = ::new (region) rd::Control{};
  control->header.layout_version = ring_layout_version;
  control->header.capacity_slots = capacity_slots;
  control->header.slot_size_bytes = static_cast<std::uint32_t>(rd::slot_size_bytes);
  control->header.from_domain = static_cast<std::uint8_t>(from.domain);
  control->header.from_port = from.port;
  control->header.to_domain = static_cast<std::uint8_t>(to.domain);
  control->header.to_port = to.port;
  control->header.region_bytes = rd::region_bytes_for(capacity_slots);
  cursor_ref(control->producer.cursor).store(0, std::memory_order_relaxed);
  cursor_ref(control->consumer.cursor).store(0, std::memory_order_relaxed);
  cursor_ref(control->stats.acked_sequence).store(0, std::memory_order_relaxed);
  cursor_ref(control->stats.full_events).store(0, std::memory_order_relaxed);
  magic_ref(control).store(ring_magic, std::memory_order_release);

  SpscRing ring;
  const bool attached = attach(region, ring, nullptr);
  FS_ASSERT(attached);
  return ring;
}

bool SpscRing::attach(void* region, SpscRing& out, std::string* error) noexcept {
  if (region == nullptr) return fail(error, "ring region is null");
  if (reinterpret_cast<std::uintptr_t>(region) % rd::region_alignment_bytes != 0)
    return fail(error, "ring region %p is not %zu-byte aligned", region,
                rd::region_alignment_bytes);
  auto* control = static_cast<rd::Control*>(region);
  const std::uint32_t magic = magic_ref(control).load(std::memory_order_acquire);
  if (magic != ring_magic)
    return fail(error,
                "ring magic mismatch: expected 0x%08" PRIx32 ", found 0x%08" PRIx32
                " (not a formatted ring)",
                ring_magic, magic);
  const rd::HeaderLine& h = control->header;
  if (h.layout_version != ring_layout_version)
    return fail(error, "ring layout version mismatch: expected version %u, found version %u",
                unsigned{ring_layout_version}, unsigned{h.layout_version});
  if (!capacity_ok(h.capacity_slots))
    return fail(error,
                "ring geometry mismatch: capacity %" PRIu32
                " is not a power of two in "
                "[%" PRIu32 ", %" PRIu32 "]",
                h.capacity_slots, ring_capacity_slots_min, ring_capacity_slots_max);
  if (h.slot_size_bytes != rd::slot_size_bytes)
    return fail(error, "ring geometry mismatch: expected slot size %zu bytes, found %" PRIu32,
                rd::slot_size_bytes, h.slot_size_bytes);
  if (h.region_bytes != rd::region_bytes_for(h.capacity_slots))
    return fail(error,
                "ring geometry mismatch: expected region of %zu bytes for %" PRIu32
                " slots, found %" PRIu64,
                rd::region_bytes_for(h.capacity_slots), h.capacity_slots, h.region_bytes);
  out.control_ = control;
  out.slots_ = reinterpret_cast<Message*>(static_cast<std::byte*>(region) + rd::slots_offset);
  out.capacity_ = h.capacity_slots;
  out.mask_ = h.capacity_slots - 1;
  return true;
}

bool SpscRing::attach(void* region, std::size_t available_bytes, SpscRing& out,
                      std::string* error) noexcept {
  if (available_bytes < rd::slots_offset)
    return fail(error, "ring region of %zu bytes is smaller than its %zu-byte control block",
                available_bytes, rd::slots_offset);
  SpscRing ring;
  if (!attach(region, ring, error)) return false;
  if (rd::region_bytes_for(ring.capacity_) > available_bytes)
    return fail(error, "ring geometry mismatch: ring needs %zu bytes, only %zu available",
                rd::region_bytes_for(ring.capacity_), available_bytes);
  out = ring;
  return true;
}

Node SpscRing::from() const noexcept {
  FS_ASSERT(valid());
  return Node{static_cast<Domain>(control_->header.from_domain), control_->header.from_port};
}

Node SpscRing::to() const noexcept {
  FS_ASSERT(valid());
  return Node{static_cast<Domain>(control_->header.to_domain), control_->header.to_port};
}

std::uint64_t SpscRing::depth() const noexcept {
  FS_ASSERT(valid());
  // Consumer first: the producer cursor read after it can only be larger, so no underflow.
  const std::uint64_t consumed =
      cursor_ref(control_->consumer.cursor).load(std::memory_order_acquire);
  const std::uint64_t published =
      cursor_ref(control_->producer.cursor).load(std::memory_order_relaxed);
  return published - consumed;
}

std::uint64_t SpscRing::full_events() const noexcept {
  FS_ASSERT(valid());
  return cursor_ref(control_->stats.full_events).load(std::memory_order_relaxed);
}

void SpscRing::store_acked(std::uint64_t sequence) noexcept {
  FS_ASSERT(valid());
  cursor_ref(control_->stats.acked_sequence).store(sequence, std::memory_order_release);
}

std::uint64_t SpscRing::load_acked() const noexcept {
  FS_ASSERT(valid());
  return cursor_ref(control_->stats.acked_sequence).load(std::memory_order_acquire);
}

RingProducer::RingProducer(SpscRing ring, Doorbell* consumer_bell) noexcept
    : ring_(ring), bell_(consumer_bell) {
  FS_ASSERT(ring_.valid());
  head_ = ring_.load_producer_cursor(std::memory_order_relaxed);  // we are its only writer
  cached_tail_ = ring_.load_consumer_cursor(std::memory_order_acquire);
  FS_ASSERT(head_ - cached_tail_ <= ring_.capacity_);
}

void RingProducer::count_full_event() noexcept {
  // Only the producer writes full_events, so a load + store is enough (no locked RMW).
  auto events = SpscRing::cursor_ref(ring_.control_->stats.full_events);
  events.store(events.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

std::size_t RingProducer::free_slots() noexcept {
  FS_ASSERT(ring_.valid());
  cached_tail_ = ring_.load_consumer_cursor(std::memory_order_acquire);
  FS_ASSERT(head_ - cached_tail_ <= ring_.capacity_);
  return static_cast<std::size_t>(free_slots_cached());
}

RingConsumer::RingConsumer(SpscRing ring) noexcept : ring_(ring) {
  FS_ASSERT(ring_.valid());
  tail_ = ring_.load_consumer_cursor(std::memory_order_relaxed);  // we are its only writer
  cached_head_ = ring_.load_producer_cursor(std::memory_order_acquire);
  FS_ASSERT(cached_head_ - tail_ <= ring_.capacity_);
}

RingReader::RingReader(SpscRing ring) noexcept : ring_(ring) {
  FS_ASSERT(ring_.valid());
  read_ = ring_.load_consumer_cursor(std::memory_order_relaxed);
  cached_head_ = ring_.load_producer_cursor(std::memory_order_acquire);
  FS_ASSERT(cached_head_ - read_ <= ring_.capacity_);
}

}  // namespace flashsaga::ipc
