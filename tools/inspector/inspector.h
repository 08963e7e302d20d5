// inspector: `flashsaga journal ls|show|tail|verify|stats|export` and `flashsaga trace ORDER`.
//
// Requires: a deployment's data directory (<data>/<domain>/journal and <data>/<domain>/view, two
//   LMDB environments per domain: the journal with the runtime's cursors, and the read model).
// Guarantees: read-only; works while the deployment runs (short read snapshots, refreshed in
//   chunks on long scans so the writers' files do not grow behind an old reader). Every command
//   is a function that writes to the streams it is given and returns the process exit code:
//     0  done (verify: every record sound)
//     1  verify found problems; show/trace found nothing to show; check found violations
//     2  the journals cannot be read (wrong path, another layout version, a newer writer): one
//        line on `err` saying why, never a crash.
//
// Example (what the CLI does, and what tests call directly):
//   tools::InspectContext ctx{.data_dir = "data", .style = {.color = false}};
//   tools::ShowOptions show{.domain = "order", .order_id = 17};
//   int rc = tools::journal_show(ctx, show, std::cout, std::cerr);
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "engine/config.h"
#include "tools/inspector/output.h"

namespace CLI {
class App;
}

namespace flashsaga::tools {

struct InspectContext {
  std::filesystem::path data_dir{};
  Style style{};
};

// Each domain's journal and view: records, batches, first/last sequence and time, where the
// view stands against the journal, disk and map use of both, durability, reader slots.
int journal_ls(const InspectContext& ctx, std::ostream& out, std::ostream& err);

struct ShowOptions {
  std::string domain{};    // one of the six domains
  std::uint64_t from = 1;  // first sequence
  std::uint64_t to = std::numeric_limits<std::uint64_t>::max();
  std::vector<std::string> types{};  // record type names or numbers; empty: all
  std::uint64_t order_id = 0;        // 0: any
  std::int64_t since_ns = std::numeric_limits<std::int64_t>::min();  // records at or after
  std::uint64_t limit = 0;                                           // 0: no limit
  bool json = false;                                                 // one JSON object per line
};
// Decoded records, one line each. Returns 1 if nothing matched.
int journal_show(const InspectContext& ctx, const ShowOptions& options, std::ostream& out,
                 std::ostream& err);

struct TailOptions {
  std::string domain = "all";     // a domain or "all" (interleaved by time)
  std::uint64_t last = 10;        // -n: the last N records first
  bool follow = false;            // -f: then new ones as they commit
  std::uint64_t max_records = 0;  // stop after this many followed records (0: never)
  std::uint32_t poll_ms = 50;
  bool json = false;
  const std::atomic<bool>* stop = nullptr;  // also stops on SIGINT when follow is set
};
int journal_tail(const InspectContext& ctx, const TailOptions& options, std::ostream& out,
                 std::ostream& err);

// Every batch (framing, section checksum, the entries of its sections, sequence continuity)
// and every record in it (framing, CRC32C, decodability: payload size of its type, the right
// journal for its type, reserved bytes zero), and each view's position (not past its journal,
// from this journal, at a batch's end). An environment LMDB cannot walk (torn by a power
// loss) is a problem naming its domain and path, found by a probe in a child process, never a
// crash. Reports each problem with its position; returns 1 if any.
int journal_verify(const InspectContext& ctx, const std::string& domain, std::ostream& out,
                   std::ostream& err);

// Records, batches and view position per domain; counts by record type, compensations by
// domain and kind, records per second per minute.
int journal_stats(const InspectContext& ctx, const std::string& domain, std::ostream& out,
                  std::ostream& err);

struct ExportOptions {
  std::string format = "jsonl";  // jsonl or csv
  std::string domain = "all";
};
int journal_export(const InspectContext& ctx, const ExportOptions& options, std::ostream& out,
                   std::ostream& err);

struct TraceOptions {
  std::uint64_t order_id = 0;
  std::int64_t now_ns = 0;  // 0: wall clock (judges "recently cancelled")
  std::int64_t inflight_grace_ns = 5'000'000'000;
};
// The order's timeline across the six journals (with the product domain's bulk count that
// covers the order, then its sale or release), each step's states and compensations, the time
// between records, and markers for an EMPTY compensation (undoing a step that never
// succeeded) or a MISSING one (a cancelled order with a succeeded step not undone).
// Returns 1 if no journal knows the order.
int trace_order(const InspectContext& ctx, const TraceOptions& options, std::ostream& out,
                std::ostream& err);

// Registers `journal ...` and `trace ORDER` on the app. `config` gives --data.
void add_inspector_commands(CLI::App& app, std::function<engine::Config()> config);

// Registers `flashsaga check [--require-terminal]` (tools/check/check.h): exit 0 clean,
// 1 violations, 2 cannot read.
void add_check_command(CLI::App& app, std::function<engine::Config()> config);

}  // namespace flashsaga::tools
