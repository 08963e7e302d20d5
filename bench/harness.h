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
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace flashsaga::bench {

struct BenchOptions {
  std::string scenario = "flash-sale";
  std::string durability = "sync";
  std::string driver = "client";        // client (library, over the rings)
  std::uint64_t orders = 200'000;       // attempts
  std::uint64_t stock = 50'000;         // hot SKU stock (flash-sale) / per SKU (catalog)
  std::uint64_t buyers = 10'000;
  std::uint64_t skus = 1'000;
  double zipf = 0.0;                    // 0: uniform
  std::uint32_t window = 4096;          // closed loop: orders in flight
  double rate = 0.0;                    // > 0: open loop at this many orders/s
  double coupon_share = 0.0;
  double points_share = 0.0;
  double bad_coupon_share = 0.0;        // failures scenario
  double poor_share = 0.0;              // failures: buyers with empty wallets
  std::uint32_t pg_decline_permille = 0;
  std::uint64_t seed = 1;
  std::filesystem::path executable;     // the flashsaga binary
  std::filesystem::path json_out;       // optional
  std::filesystem::path csv_out;        // optional
  std::filesystem::path plot_dir;       // optional: gnuplot PNGs
  bool keep_data = false;
  bool quiet = false;
};

// Runs one benchmark and prints its report; returns 0 on success, 1 if check found violations
// or the run failed.
int run_bench(const BenchOptions& options);

}  // namespace flashsaga::bench
