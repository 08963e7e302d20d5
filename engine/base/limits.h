// flashsaga's named limits: every loop bound and queue capacity lives here, units last.
//
// Values that an operator may tune at deployment time (ring capacities, map sizes, timeouts)
// have their *defaults* here and are overridden by the TOML config (engine/config.h); the
// static_asserts below say how the limits relate and why.
#pragma once

#include <cstddef>
#include <cstdint>

namespace flashsaga {

// --- Messages ---------------------------------------------------------------------------
// A flash-sale order rarely has more than a couple of lines; 8 keeps PlaceOrder in one slot.
inline constexpr std::uint32_t line_items_max = 8;
// One ring slot holds exactly one message: a 64-byte header and a 192-byte body.
inline constexpr std::size_t message_size_bytes = 256;
inline constexpr std::size_t message_header_size_bytes = 64;
inline constexpr std::size_t message_body_size_bytes =
    message_size_bytes - message_header_size_bytes;
inline constexpr std::size_t cache_line_size_bytes = 64;
// Names and e-mail addresses travel in fixed fields of these sizes (NUL padded).
inline constexpr std::size_t name_size_bytes = 64;
inline constexpr std::size_t email_size_bytes = 96;
inline constexpr std::size_t reason_size_bytes = 64;

static_assert(message_size_bytes % cache_line_size_bytes == 0,
              "a message must fill whole cache lines so slots never share a line");

// The six domains: user, point, product, coupon, order, payment (ipc::Domain values 1..6).
inline constexpr std::uint8_t domain_count = 6;

// --- Rings ------------------------------------------------------------------------------
inline constexpr std::uint32_t ring_capacity_slots_min = 16;
inline constexpr std::uint32_t ring_capacity_slots_max = 1u << 20;
// Default capacities: saga edges carry every order several times; port edges carry requests.
inline constexpr std::uint32_t saga_ring_capacity_slots_default = 16384;
inline constexpr std::uint32_t port_ring_capacity_slots_default = 4096;
// A consumer takes at most this many messages from one ring per duty cycle, so one busy ring
// cannot starve the others and a journal transaction stays bounded.
inline constexpr std::uint32_t drain_count_max = 1024;
static_assert(drain_count_max <= saga_ring_capacity_slots_default);
// Committed messages a domain holds in memory for one output edge while its ring is full.
// Past this a domain stops taking input (back-pressure) instead of growing without bound.
inline constexpr std::size_t outbox_pending_max = 1u << 16;
static_assert(outbox_pending_max > 8 * drain_count_max,
              "room for several full batches before back-pressure starts");

// --- Idle strategy ----------------------------------------------------------------------
inline constexpr std::uint32_t idle_spin_count_max = 200;
inline constexpr std::uint32_t idle_yield_count_max = 50;
// A parked consumer wakes at least this often. Domains with timers (step deadlines, PG answers)
// park only until their next one is due; this bound is what an idle process costs: eight
// processes waking 4 times a second stay far below 1% of a core.
inline constexpr std::int64_t park_ns_max = 250'000'000;

// --- Stock reservation ------------------------------------------------------------------
// A CAS that keeps losing to other reservers gives up and reports contention (transient).
inline constexpr std::uint32_t cas_retry_count_max = 4096;
inline constexpr std::uint32_t products_max_default = 1u << 17;
inline constexpr std::uint32_t ports_max = 8;  // gateway + client-library attachments

// --- Ids ----------------------------------------------------------------------------------
// Users a deployment can hold. Per-user state lives in dense in-memory tables indexed by user
// id, so an id from a request is checked against this before anything is stored under it.
inline constexpr std::uint64_t user_ids_max = std::uint64_t{1} << 26;

// --- Quantities and money ---------------------------------------------------------------
// Bounds that keep every sum below 2^53 (JSON numbers) with room to spare.
inline constexpr std::uint32_t quantity_max = 1'000'000;
inline constexpr std::int64_t stock_max = 1'000'000'000;
inline constexpr std::int64_t money_max = 1'000'000'000'000;  // per amount, smallest unit
static_assert(static_cast<double>(money_max) * line_items_max * quantity_max < 9.0e18,
              "subtotal of a full order must fit in int64");

}  // namespace flashsaga
