// simulator: the six real domain logics in one process, over in-memory rings and per-seed
// LMDB journals on tmpfs, scheduled by one seeded PRNG — a failing seed replays exactly.
//
// Requires: a writable tmpfs-backed directory (default /dev/shm, else the system temp dir).
// Guarantees:
//   - determinism: everything the run does is a function of SimOptions. One std::mt19937_64
//     seeded from the seed picks every step; time is a virtual clock (Batch::now_ns); there are
//     no threads and no iteration in address order. The trace hash covers every decision and
//     every batch outcome, so two runs of one seed give the same hash (sim_test checks it).
//   - faults, each chosen per step with per-seed rates: delivery of any edge's head messages
//     (FIFO within an edge, reordered across edges, batches of any size), duplicated deliveries,
//     delayed edges, time jumps past step deadlines, crashes of any domain between batches or
//     at any point of a batch (runtime::Runtime's order: before commit, after commit, after the
//     replies, after the release, in the middle of the publish), failed commits, a payment
//     gateway that turns slow, hangs or heals (a payment restart with another PG config), and
//     lost replies that clients retry with the same idempotency key.
//   - simulated clients (ports) reserve stock by CAS-equivalent checks on simulated counters
//     before PlaceOrder, place, cancel and refund orders with coupons, points and wallets, on a
//     hot SKU that sells out and has max_per_user; after a crash of the product or order domain
//     the counters are reconciled from the journals (the product domain's rule, DESIGN.md
//     "Stock", which it only runs with a real deployment).
//   - at the end: drain (heal the PG, deliver everything, advance time past every deadline),
//     then simulator-level facts (every accepted order terminal, stock counters conserved,
//     nothing oversold, max_per_user held) and tools::run_check with require_terminal.
//
// Example:
//   SimResult r = run_seed({.seed = 42});
//   if (!r.passed) print_result(r, std::cerr);   // names the seed and the replay command
#pragma once

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

namespace flashsaga::sim {

// Deliberate bugs, to show the simulator catches them (test-only). Stable numbers.
enum class BugMode : std::uint8_t {
  none = 0,
  drop_cancel = 1,     // the first OrderCancelled to product is lost for good (a lossy ring)
  double_release = 2,  // the transport applies product's give-back stock deltas twice
  skip_dedup = 3,      // the runtime hands duplicates (by edge, sequence) to the logic
};
std::string_view bug_mode_name(BugMode b) noexcept;
bool parse_bug_mode(std::string_view name, BugMode& out) noexcept;

struct SimOptions {
  std::uint64_t seed = 1;
  std::uint32_t steps = 300;  // main-phase scheduler steps (the drain comes after)
  BugMode bug = BugMode::none;
  bool full_trace = false;    // keep every trace line (else the last trace_tail_lines)
  std::filesystem::path tmp_root;  // empty: /dev/shm if present, else the system temp dir
  bool keep_dir = false;           // leave the journals for `flashsaga check/trace --data`
  bool run_checker = true;
};

inline constexpr std::size_t trace_tail_lines = 60;

struct SimStats {
  std::uint64_t steps = 0, batches = 0, applied = 0, duplicates_dropped = 0;
  std::uint64_t place_requests = 0, sold_out = 0, not_on_sale = 0, accepted = 0, rejected = 0;
  std::uint64_t completed = 0, cancelled = 0, retries = 0, cancels_requested = 0, commands = 0;
  std::uint64_t crashes = 0, failed_commits = 0, dup_injected = 0, delays = 0, pg_changes = 0;
  std::uint64_t reconciliations = 0, drain_rounds = 0;
  std::int64_t virtual_ms = 0;
};

struct SimResult {
  std::uint64_t seed = 0;
  bool passed = false;
  bool bug_fired = false;  // the BugMode's fault really happened in this run
  std::vector<std::string> failures;
  std::uint64_t trace_hash = 0;
  std::vector<std::string> trace;  // full or tail, see SimOptions::full_trace
  SimStats stats;
  std::string data_dir;  // when kept
};

SimResult run_seed(const SimOptions& options);

// The seed, its failures, the trace (tail) and the command that replays it.
void print_result(const SimResult& r, const SimOptions& options, std::ostream& out);

}  // namespace flashsaga::sim
