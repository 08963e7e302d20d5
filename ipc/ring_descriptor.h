// Ring descriptor: the byte layout of one SPSC ring region in shared memory.
//
// Requires: the region starts 64-byte aligned (the segment payload is 4096-aligned and the
//   engine lays regions out in multiples of 64 bytes).
// Guarantees: every offset the ring code uses is a constexpr here, checked against the struct
//   by static_assert; the ring code (spsc_ring.cc) never spells a number. The layout is a wire
//   format between processes: any change bumps ring_layout_version.
// Memory ordering: the descriptor only places the words; spsc_ring.h says who writes each one
//   and with which order. The header line is written once by format() and read-only after.
//
// Example (what the engine needs to lay rings out, and what a test uses to set cursors):
//   offset += align_up(ring_descriptor::region_bytes_for(capacity), 64);
//   auto& control = *static_cast<ring_descriptor::Control*>(region);
//   std::atomic_ref<std::uint64_t>(control.producer.cursor).store(near_wrap);
//
// Layout of one ring region (offsets in bytes, little-endian):
//
//    0       4   6   8       12      16  17  18  19  20      24              32            64
//    +-------+---+---+-------+-------+---+---+---+---+-------+---------------+-------------+
//    | magic |ver|rsv|capacty|slot_sz|fd |fp |td |tp | rsvd  | region_bytes  |  reserved   | line 0
//    +-------+---+---+-------+-------+---+---+---+---+-------+---------------+-------------+
//    64              72                                                                    128
//    +---------------+---------------------------------------------------------------------+
//    |producer_cursor|  padding: written only by the producer                              | line 1
//    +---------------+---------------------------------------------------------------------+
//    128             136                                                                   192
//    +---------------+---------------------------------------------------------------------+
//    |consumer_cursor|  padding: written only by the consumer                              | line 2
//    +---------------+---------------------------------------------------------------------+
//    192             200             208                                                   256
//    +---------------+---------------+-----------------------------------------------------+
//    | acked_sequence|  full_events  |  padding: rarely written (commit, backpressure)     | line 3
//    +---------------+---------------+-----------------------------------------------------+
//    256                                                     256 + capacity * 256
//    +-----------+-----------+-----------+-- ... --+-----------+
//    |  slot 0   |  slot 1   |  slot 2   |         | slot cap-1|  slots: one Message each
//    +-----------+-----------+-----------+-- ... --+-----------+
//
//    fd/fp: from node (Domain, port); td/tp: to node. Reserved bytes are zero.
//
// Cursors are monotonically increasing u64 message counts, never reset: slot index =
// cursor & (capacity - 1). producer_cursor - consumer_cursor is always in [0, capacity].
// At 10^9 messages a second a u64 cursor wraps after 584 years; the arithmetic is modular
// anyway, so a wrap would be harmless.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "engine/base/limits.h"
#include "ipc/message.h"

namespace flashsaga::ipc {

inline constexpr std::uint32_t ring_magic = 0x47525346u;  // "FSRG" little-endian
inline constexpr std::uint16_t ring_layout_version = 1;

namespace ring_descriptor {

struct HeaderLine {
  std::uint32_t magic;            //  0 ring_magic, written last by format()
  std::uint16_t layout_version;   //  4 ring_layout_version
  std::uint16_t reserved0;        //  6 zero
  std::uint32_t capacity_slots;   //  8 power of two
  std::uint32_t slot_size_bytes;  // 12 sizeof(Message)
  std::uint8_t from_domain;       // 16 Domain of the producer
  std::uint8_t from_port;         // 17
  std::uint8_t to_domain;         // 18 Domain of the consumer
  std::uint8_t to_port;           // 19
  std::uint32_t reserved1;        // 20 zero
  std::uint64_t region_bytes;     // 24 slots_offset + capacity * slot size
  std::uint8_t reserved2[32];     // 32 zero
};

// One cache line holding one cursor; only its owner writes it.
struct alignas(cache_line_size_bytes) CursorLine {
  std::uint64_t cursor;
  std::uint8_t padding[cache_line_size_bytes - sizeof(std::uint64_t)];
};

struct alignas(cache_line_size_bytes) StatsLine {
  std::uint64_t acked_sequence;  // written by the consumer after its journal commit
  std::uint64_t full_events;     // written by the producer when it finds the ring full
  std::uint8_t padding[cache_line_size_bytes - 2 * sizeof(std::uint64_t)];
};

// The control block at the start of every ring region; slots follow it.
struct alignas(cache_line_size_bytes) Control {
  HeaderLine header;
  CursorLine producer;
  CursorLine consumer;
  StatsLine stats;
};

inline constexpr std::size_t header_offset = 0;
inline constexpr std::size_t producer_cursor_offset = 64;
inline constexpr std::size_t consumer_cursor_offset = 128;
inline constexpr std::size_t acked_sequence_offset = 192;
inline constexpr std::size_t full_events_offset = 200;
inline constexpr std::size_t slots_offset = 256;
inline constexpr std::size_t slot_size_bytes = sizeof(Message);
inline constexpr std::size_t region_alignment_bytes = cache_line_size_bytes;

static_assert(std::is_standard_layout_v<Control>, "offsetof must be meaningful");
static_assert(std::is_trivially_copyable_v<Control>, "the control block is a wire format");
static_assert(sizeof(HeaderLine) == cache_line_size_bytes);
static_assert(offsetof(HeaderLine, capacity_slots) == 8);
static_assert(offsetof(HeaderLine, slot_size_bytes) == 12);
static_assert(offsetof(HeaderLine, from_domain) == 16);
static_assert(offsetof(HeaderLine, to_domain) == 18);
static_assert(offsetof(HeaderLine, region_bytes) == 24);
static_assert(offsetof(Control, header) == header_offset);
static_assert(offsetof(Control, producer) + offsetof(CursorLine, cursor) == producer_cursor_offset);
static_assert(offsetof(Control, consumer) + offsetof(CursorLine, cursor) == consumer_cursor_offset);
static_assert(offsetof(Control, stats) + offsetof(StatsLine, acked_sequence) ==
              acked_sequence_offset);
static_assert(offsetof(Control, stats) + offsetof(StatsLine, full_events) == full_events_offset);
static_assert(sizeof(Control) == slots_offset);
static_assert(slots_offset % alignof(Message) == 0, "slots must start on a message boundary");
static_assert(slot_size_bytes % cache_line_size_bytes == 0, "slots must never share a cache line");

static_assert(consumer_cursor_offset - producer_cursor_offset >= cache_line_size_bytes,
              "producer and consumer cursors must sit on different cache lines: each is written "
              "by a different core, and a shared line would ping-pong on every publish (false "
              "sharing)");
static_assert(producer_cursor_offset - header_offset >= cache_line_size_bytes,
              "the read-mostly header must not share a line with a written cursor");
static_assert(acked_sequence_offset - consumer_cursor_offset >= cache_line_size_bytes,
              "rarely written stats must not share a line with the hot consumer cursor");
static_assert(slots_offset - full_events_offset >= sizeof(std::uint64_t),
              "stats must end before the first slot");

// The cursors are accessed with std::atomic_ref on these plain u64 fields. A lock-free
// atomic is address-free, which is what makes it correct across processes that map the same
// memory at different addresses.
static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free,
              "cursors must be lock-free (and so address-free) to work in shared memory");
static_assert(std::atomic_ref<std::uint64_t>::required_alignment <= alignof(std::uint64_t));
static_assert(std::atomic_ref<std::uint32_t>::is_always_lock_free);

constexpr std::size_t region_bytes_for(std::uint32_t capacity_slots) noexcept {
  return slots_offset + static_cast<std::size_t>(capacity_slots) * slot_size_bytes;
}

}  // namespace ring_descriptor
}  // namespace flashsaga::ipc
