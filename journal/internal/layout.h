// journal/internal/layout.h: the names and bounds behind journal.h that tests and tools may
// need but domain code should not (table names, meta keys, retry bounds).
//
// The meta table holds one row per key below. Values are fixed-width little-endian integers
// (this is a single-host format; the static_assert in journal.cc pins the byte order), except
// the domain, which is its bytes without a terminator:
//
//   key               value
//   "magic"           u32  journal_magic
//   "layout_version"  u16  journal_layout_version
//   "domain"          bytes, 1..domain_size_max_bytes
//   "created_ns"      i64  wall clock when the writer created the environment
//   "durability"      u8   Durability of the last writer that opened it
//
// Magic and layout version are separate rows, not one struct, so that a later layout can
// still read them and refuse the environment with a message naming both versions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace flashsaga::journal::internal {

inline constexpr std::string_view journal_table_name = "journal";
inline constexpr std::string_view meta_table_name = "meta";
// journal and meta, besides Options::tables; LMDB's maxdbs is tables_max plus this.
inline constexpr unsigned core_table_count = 2;

inline constexpr std::string_view meta_key_magic = "magic";
inline constexpr std::string_view meta_key_layout_version = "layout_version";
inline constexpr std::string_view meta_key_domain = "domain";
inline constexpr std::string_view meta_key_created_ns = "created_ns";
inline constexpr std::string_view meta_key_durability = "durability";

// Domain names are short identifiers ("order", "coupon"); the bound keeps messages readable.
inline constexpr std::size_t domain_size_max_bytes = 64;

// A reader that finds the map grown by the writer process (MDB_MAP_RESIZED) remaps and
// retries; the writer can grow again in between, so a few attempts, never an endless loop.
inline constexpr std::uint32_t remap_attempt_count_max = 8;
// Remapping needs every other transaction of this process to end first; it yields to them
// at most this many times, then reports the map change instead of waiting forever on a
// thread that holds an old snapshot.
inline constexpr std::uint32_t remap_wait_yield_count_max = 100'000;

}  // namespace flashsaga::journal::internal
