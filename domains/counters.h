// counters: named u64 counters (e.g. "next_id") in the runtime's "counters" table of a
// domain's environment.
//
// Guarantees: a counter that was never written reads as 0; counter_put writes in the caller's
// transaction (so it commits with the batch).
//
// Example:
//   std::uint64_t next = 0;
//   if (journal::Status s = counter_get(txn, counters_, "next_id", next); !s.ok()) return s;
//   if (journal::Status s = counter_put(txn, counters_, "next_id", next + 1); !s.ok()) return s;
#pragma once

#include <cstdint>
#include <string_view>

#include "journal/journal.h"

namespace flashsaga::domains {

// Persistent counters (e.g. "next_id") in the runtime's counters table.
journal::Status counter_get(const journal::ReadTxn& txn, journal::TableId table, std::string_view name,
                            std::uint64_t& value);
journal::Status counter_put(journal::WriteTxn& txn, journal::TableId table, std::string_view name,
                            std::uint64_t value);

}  // namespace flashsaga::domains
