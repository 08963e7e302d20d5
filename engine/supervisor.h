// supervisor: `flashsaga run` — one deployment's lifecycle.
//
// Creates the data directory (0700) and the shared-memory segment (removing a stale one left by
// a dead supervisor, refusing a live one), starts one process per domain and the gateway (the
// same binary with a subcommand), and watches them: a process that dies is started again after
// a back-off and recovers from its journal; a death that may have left a stock reservation
// half-done (the order domain, or a port owner) makes the product domain reconcile stock.
// Children die with the supervisor (PR_SET_PDEATHSIG), so a restarted supervisor always starts
// from the journals: a killed supervisor's children are never adopted (docs/durability.md,
// "Stalls, clock jumps, a dead supervisor"; tests/e2e/stall_test SupervisorKilled).
//
// SIGTERM/SIGINT: graceful stop — intake closes (POST /orders answers 503), in-flight sagas are
// given up to drain_timeout_ms to reach a terminal state (those that do not stay PENDING in the
// journal and finish, or time out, after the next start), every child is stopped (each drains
// its rings and flushes its journal), the segment is removed, exit 0.
//
// A domain that cannot start is not restarted forever. It exits with exit_damaged_journal when
// one of its environments is damaged (LMDB's MDB_INVALID / MDB_CORRUPTED / MDB_PAGE_NOTFOUND:
// a power loss under nosync); a domain that dies before it is ready (not by SIGKILL) start_failures_max
// times in a row has its journal probed. Either way the supervisor stops every process and exits
// exit_damaged_journal with a line naming the damaged journal and the command that resets it
// (`flashsaga journal reset`), or exit_start_loop when no damage was found.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "engine/config.h"

namespace flashsaga::engine {

inline constexpr int exit_damaged_journal = 3;  // `flashsaga run` / a domain: a damaged environment
inline constexpr int exit_start_loop = 4;       // `flashsaga run`: a domain keeps failing to start
inline constexpr std::uint32_t start_failures_max = 8;

struct SupervisorOptions {
  std::filesystem::path executable;   // the flashsaga binary (children are started from it)
  std::filesystem::path config_path;  // passed on to children ("" for defaults)
  bool gateway = true;                // also run the HTTP gateway
  // Called once every process is ready (e.g. the demo starts its sale then); may be empty.
  std::function<void()> on_ready;
};

int run_supervisor(const Config& config, const SupervisorOptions& options);

// Orders the order domain's journal still holds PENDING (0 if it cannot be read yet).
std::uint64_t count_pending_orders(const Config& config);

// Asks a running supervisor of this process to stop (what SIGTERM does); for embedding.
void request_supervisor_stop() noexcept;

}  // namespace flashsaga::engine
