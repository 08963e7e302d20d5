// simulator: the six real domains in one process — each one's DomainLogic, Agent, Committer and
// recovery (engine/runtime/) over its own journal and view on tmpfs, connected by in-memory
// rings (SimTransport) — scheduled by one seeded PRNG: a failing seed replays exactly.
//
// Requires: a writable tmpfs-backed directory (default /dev/shm, else the system temp dir).
// Guarantees:
//   - determinism: everything the run does is a function of SimOptions. One std::mt19937_64
//     seeded from the seed picks every step; time is a virtual clock (the batches' now_ns);
//     there are no threads and no iteration in address order. The trace hash covers every
//     decision and every stage's outcome, so two runs of one seed give the same hash (sim_test
//     checks it).
//   - the runtime's pipeline, stage by stage (sim_node.h): business batches run up to
//     batch_buffers_max ahead of the committing stage, whose groups are journaled, viewed and
//     published in separate scheduler steps, so other domains act between any two of them.
//   - faults, each chosen per step with per-seed rates: delivery of any edge's head messages
//     (FIFO within an edge, reordered across edges, batches of any size), duplicated deliveries,
//     delayed edges, rings of small capacity (back-pressure), time jumps past step deadlines,
//     crashes of any domain at rest or at a chosen point of its pipeline (CrashPoint: before the
//     journal commit, between the journal and the view commit, between the view commit and the
//     publish, in the middle of the publish, after it), failed journal or view commits (retried;
//     ports refuse orders meanwhile), a payment gateway that turns slow, hangs or heals (a payment
//     restart with another PG config), and lost replies that clients retry with the same
//     idempotency key.
//   - simulated clients (ports) reserve stock by CAS-equivalent checks on simulated shared-memory
//     counters before PlaceOrder (the catalog they see is what product_publish effects wrote),
//     place, cancel and refund orders with coupons, points and wallets, on a hot SKU that sells
//     out and has max_per_user. Effects reach the counters through SimTransport::apply. After a
//     crash of the product or order domain the counters are reconciled from the views (the
//     product domain's rule, domains/product/product_domain.h, which it only runs with a real
//     deployment): available = total - reserved - sold - units of orders above its
//     last_order_seen in the order view - units of PlaceOrders not yet applied.
//   - facts checked as the run goes: a client that got its 202 finds the order in the order
//     view (read-your-writes); after every view commit and every recovery the view's position
//     names the journal's last record; the product domain's next batch never counts more units
//     than there are, nor hears of an order's end before the Reservations that count it (either
//     would trip its assertions: the run stops with the broken promise named); a reconciliation
//     never finds a counter above what the views allow.
//   - at the end: drain (heal the PG, deliver everything, advance time past every deadline),
//     then simulator-level facts (every accepted order terminal, its stock step sold or given
//     back, stock counters conserved, nothing oversold, max_per_user held) and tools::run_check
//     with require_terminal.
//
// Example:
//   SimResult r = run_seed({.seed = 42});
//   if (!r.passed) print_result(r, options, std::cerr);   // names the seed and the replay command
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace flashsaga::sim {

// Deliberate bugs, to show the simulator catches them (test-only). Stable numbers.
enum class BugMode : std::uint8_t {
  none = 0,
  drop_cancel = 1,     // the first OrderCancelled to product is lost for good (a lossy ring)
  double_release = 2,  // the transport applies product's stock give-backs (stock_add) twice
  skip_dedup = 3,  // a restarted runtime forgets its inbox positions: duplicates reach the logic
};
std::string_view bug_mode_name(BugMode b) noexcept;
bool parse_bug_mode(std::string_view name, BugMode& out) noexcept;

struct SimOptions {
  std::uint64_t seed = 1;
  std::uint32_t steps = 300;  // main-phase scheduler steps (the drain comes after)
  BugMode bug = BugMode::none;
  bool full_trace = false;         // keep every trace line (else the last trace_tail_lines)
  bool echo = false;               // also print each trace line to stderr as it happens (debugging)
  std::filesystem::path tmp_root;  // empty: /dev/shm if present, else the system temp dir
  bool keep_dir = false;           // leave the journals for `flashsaga check/trace --data`
  bool run_checker = true;         // tools::run_check at the end (FLASHSAGA_SIM_CHECK=0: off)
};

inline constexpr std::size_t trace_tail_lines = 60;

// Where a crash hits a domain's pipeline (sim_node.h). Stable numbers.
enum class CrashPoint : std::uint8_t {
  at_rest = 0,         // between two scheduler steps, whatever the pipeline holds
  before_journal = 1,  // applied batches in memory, not journaled: lost
  after_journal = 2,   // a group journaled, not in the view: recovery catches the view up
  after_view = 3,      // a group viewed, not published: effects and replies lost, messages re-sent
  mid_publish = 4,     // part of a group's effects, messages, replies and releases out
  after_publish = 5,   // a group wholly published
};
inline constexpr std::size_t crash_point_count = 6;
std::string_view crash_point_name(CrashPoint p) noexcept;

struct SimStats {
  std::uint64_t steps = 0, batches = 0, applied = 0, duplicates_dropped = 0;
  std::uint64_t groups = 0,
                ahead_max = 0;  // committed groups; most batches applied ahead of the disk
  std::uint64_t place_requests = 0, sold_out = 0, not_on_sale = 0, accepted = 0, rejected = 0;
  std::uint64_t completed = 0, cancelled = 0, retries = 0, cancels_requested = 0, commands = 0;
  std::uint64_t crashes = 0, failed_commits = 0, dup_injected = 0, delays = 0, pg_changes = 0;
  std::uint64_t lost_replies = 0, ring_full = 0, unavailable = 0;
  std::uint64_t held_back = 0;   // commits after which a full ring kept messages pending
  std::uint64_t maps_grown = 0;  // commits that found the map full, grew it and were retried
  std::uint64_t reconciliations = 0, drain_rounds = 0;
  std::array<std::uint64_t, crash_point_count> crash_points{};
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
