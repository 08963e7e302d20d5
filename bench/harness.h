// harness: `flashsaga bench` — realistic flash sales against a real deployment, measured.
//
// Starts its own deployment (`flashsaga run`) in a temporary directory, loads a catalog, runs a
// scenario through a driver, waits for every accepted order to end, and reports:
//   orders admitted/s, completed/s, sold-out answers/s, cancellations by reason; saga
//   completion latency percentiles (from the order journal itself: PENDING record -> terminal
//   record, so nothing on the client side skews it); CPU seconds per 1k orders across every
//   deployment process; journal bytes and commits (fsyncs under sync) per order; ring depth
//   peaks; and `flashsaga check`'s verdict.
//
// Scenarios:
//   flash-sale  one hot SKU (--stock units), --orders attempts from --buyers buyers as fast as
//               the window allows (closed loop, --window orders in flight) or at --rate orders/s
//               (open loop: latency measured from the intended send time, so a stall is not
//               hidden — no coordinated omission); most attempts end sold out.
//   catalog     --skus SKUs, uniform or Zipf (--zipf S), coupons and points on a share of orders.
//   failures    like catalog, with shares of invalid coupons, empty wallets and PG declines.
//
// Drivers:
//   client      the client library (engine/client.h) straight over the rings; --window orders in
//               flight (closed loop) or --rate (open loop).
//   http        POST /orders with an Idempotency-Key against the deployment's own gateway (started
//               on a free loopback port), over --connections keep-alive connections driven by one
//               epoll thread (bench/http_client.h HttpLoad), each with --pipeline requests in
//               flight (closed loop) or at --rate (open loop). The catalog is still seeded through the
//               client library (much faster than HTTP; only the orders matter). Adds HTTP status
//               counts and HTTP request latency (send -> whole answer) to the report.
//
// Runs:
//   --durability sync|nosync|both  both: the same scenario twice (sync, then nosync), each on a
//               fresh deployment, reported side by side (one table, one JSON keyed by durability).
//   --half-peak  after each closed-loop run, an open-loop run at half its completed/s on a fresh
//               deployment; reports that run's saga p99 against the target (<= 5 ms). The open
//               run sends min(--orders, rate x --half-peak-seconds) attempts (flash-sale: at most
//               --stock, so every attempt can become an order).
//
// Output: a human table (one column per run), --json FILE (one run: the run object; several:
// {"durability": "both", "sync": {...}, "nosync": {...}}, a half-peak run nested as "half_peak"),
// --csv FILE (timeline per 100 ms of every run: admitted/s, completed/s, saga p50/p99), --plot
// DIR (gnuplot PNGs: per run throughput and latency over time, and one latency distribution
// of every run). The `wrk` equivalent of the http driver: bench/wrk/README.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace flashsaga::bench {

struct BenchOptions {
  std::string scenario = "flash-sale";
  std::string durability = "sync";  // sync, nosync or both
  std::string driver = "client";    // client (library, over the rings) or http
  std::string views = "memory";     // where the deployment keeps its views: memory or disk
  std::uint32_t connections = 64;   // http: keep-alive connections
  std::uint32_t pipeline = 1;       // http: requests in flight per connection (pipelining)
  std::uint32_t http_threads = 2;   // http: the gateway's I/O threads
  bool half_peak = false;           // also an open-loop run at half the closed-loop peak
  bool check = true;                // run `check` on each run's deployment (false: "skipped")
  double half_peak_seconds = 10.0;  // how long that run sends, at most
  double target_p99_ms = 5.0;       // what the half-peak p99 is held against
  std::uint64_t orders = 200'000;   // attempts
  std::uint64_t stock = 50'000;     // hot SKU stock (flash-sale) / per SKU (catalog)
  std::uint64_t buyers = 10'000;
  std::uint64_t skus = 1'000;
  double zipf = 0.0;            // 0: uniform
  std::uint32_t window = 4096;  // closed loop: orders in flight
  double rate = 0.0;            // > 0: open loop at this many orders/s
  double coupon_share = 0.0;
  double points_share = 0.0;
  double bad_coupon_share = 0.0;  // failures scenario
  double poor_share = 0.0;        // failures: buyers with empty wallets
  std::uint32_t pg_decline_permille = 0;
  std::uint64_t seed = 1;
  std::filesystem::path executable;  // the flashsaga binary
  std::filesystem::path json_out;    // optional
  std::filesystem::path csv_out;     // optional
  std::filesystem::path plot_dir;    // optional: gnuplot PNGs
  bool keep_data = false;
  bool quiet = false;
};

// Runs one benchmark and prints its report; returns 0 on success, 1 if check found violations
// or the run failed.
int run_bench(const BenchOptions& options);

}  // namespace flashsaga::bench
