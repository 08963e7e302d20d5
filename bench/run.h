// One run of a bench scenario on a fresh deployment: what it plans and what it measured.
// Internal to bench/: the harness (harness.cc) runs plans, the report (report.h) prints them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "bench/harness.h"
#include "bench/histogram.h"

namespace flashsaga::bench {

constexpr std::int64_t timeline_bucket_ns = 100'000'000;
constexpr std::size_t timeline_buckets_max = 36'000;  // one hour of 100 ms buckets

inline double per(double count, double seconds) {
  return seconds > 0 ? count / seconds : 0.0;
}
inline double per(std::uint64_t count, double seconds) {
  return per(static_cast<double>(count), seconds);
}
inline double ratio(double a, std::uint64_t b) {
  return b ? a / static_cast<double>(b) : 0.0;
}

// What the order journal says of a run: every order's PENDING and terminal records.
struct JournalFacts {
  LatencyHistogram latency;  // PENDING -> terminal
  std::uint64_t completed = 0, cancelled = 0;
  std::map<std::string, std::uint64_t> cancel_reasons;
  std::int64_t first_pending_ns = 0, last_terminal_ns = 0;
  std::vector<std::int64_t> pending_times;  // wall ns
  std::vector<std::pair<std::int64_t, std::int64_t>>
      terminal_times;  // (terminal wall ns, latency ns)
};

struct RunPlan {
  std::string durability;
  std::string label;  // "sync", "nosync half-peak", ...
  std::uint64_t orders = 0;
  double rate = 0;  // 0: closed loop
};

// Everything one run measured.
struct RunFigures {
  RunPlan plan;
  bool started = false;
  std::string error;
  std::uint64_t attempts = 0, accepted = 0, sold_out = 0, not_on_sale = 0, unavailable = 0,
                overloaded = 0, rejected = 0, lost = 0;
  double load_s = 0, send_s = 0, admit_s = 0, done_s = 0, saga_s = 0;
  JournalFacts facts;
  LatencyHistogram admission;  // open loop: intended send time -> answer
  LatencyHistogram http;       // http driver: request sent -> whole answer read
  std::map<std::string, std::uint64_t> http_status;  // "202", "409 sold_out", "error: ..."
  std::int64_t sale_start_wall_ns = 0;               // t = 0 of the timeline
  std::vector<std::uint64_t> sold_out_timeline;      // per 100 ms bucket from the sale's start
  double sold_out_s = 0;                             // first to last sold-out answer
  double cpu_s = 0, driver_cpu_s = 0;
  std::uint64_t disk_bytes = 0;  // /proc/PID/io write_bytes of every deployment process
  std::vector<std::pair<std::string, double>> cpu_by_process;
  std::uint64_t journal_bytes = 0, commits = 0;
  std::map<std::string, std::uint64_t> depth_peak_by_domain;  // deepest input ring per consumer
  std::string top_edges;
  bool clean = false;
  std::string check_text;
  std::size_t violations = 0;

  double completed_per_s() const { return per(facts.completed, saga_s); }
  // Sold-out answers/s while the SKU was sold out (the whole sending time if that is unknown).
  double sold_out_per_s() const { return per(sold_out, sold_out_s > 0 ? sold_out_s : send_s); }
  std::uint64_t orders_done() const { return facts.completed + facts.cancelled; }
};

// Runs the plan on a fresh deployment (started and stopped here) and fills fig. False if the
// run could not start or did not end cleanly (fig.error says why).
bool run_once(const BenchOptions& opt, const RunPlan& plan, RunFigures& fig);

}  // namespace flashsaga::bench
