#include "tools/commands.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/harness.h"
#include "bench/http_client.h"
#include "tools/demo.h"
#include "tools/inspector/inspector.h"
#include "tools/check/check.h"
#include "tools/status.h"

namespace flashsaga::tools {
namespace {

// bench/peers/run.sh: looked for beside the binary (build/<preset>/tools/flashsaga is three
// levels under the source root), then in the source tree the binary was built from.
std::vector<std::filesystem::path> peers_script_candidates(
    const std::filesystem::path& executable) {
  std::vector<std::filesystem::path> out;
  std::filesystem::path dir = executable.parent_path();
  for (int up = 0; up < 4 && !dir.empty(); ++up, dir = dir.parent_path()) {
    out.push_back(dir / "bench/peers/run.sh");
    if (dir == dir.root_path()) break;
  }
#ifdef FLASHSAGA_SOURCE_DIR
  out.push_back(std::filesystem::path(FLASHSAGA_SOURCE_DIR) / "bench/peers/run.sh");
#endif
  return out;
}

// `flashsaga bench peers [run.sh options]`: listed in `bench --help`; main() hands every
// argument after `peers` to run_bench_peers() before parsing (--help prints the script's usage).
void add_bench_peers_command(CLI::App& bench, const std::filesystem::path& executable) {
  CLI::App* peers = bench.add_subcommand(
      "peers",
      "flashsaga, Redis and PostgreSQL on the same workloads (bench/peers/run.sh; --help: its options)");
  peers->allow_extras();
  peers->callback(
      [peers, executable] { std::exit(run_bench_peers(executable, peers->remaining())); });
}

void add_bench_command(CLI::App& app, const std::filesystem::path& executable) {
  auto options = std::make_shared<bench::BenchOptions>();
  options->executable = executable;
  CLI::App* cmd =
      app.add_subcommand("bench", "run a benchmark flash sale on a fresh deployment and report");
  cmd->add_option("scenario", options->scenario, "flash-sale, catalog or failures")
      ->check(CLI::IsMember({"flash-sale", "catalog", "failures"}));
  cmd->add_option(
         "--durability", options->durability,
         "sync, interval, nosync, both (sync then nosync) or all (the three, side by side)")
      ->check(CLI::IsMember({"sync", "interval", "nosync", "both", "all"}));
  cmd->add_option("--views", options->views,
                  "memory (tmpfs, the default) or disk: where the deployment keeps its views")
      ->check(CLI::IsMember({"memory", "disk"}));
  cmd->add_option("--driver", options->driver,
                  "client (library, over the rings) or http (POST /orders via the gateway)")
      ->check(CLI::IsMember({"client", "http"}));
  cmd->add_option("--connections", options->connections, "http driver: keep-alive connections")
      ->check(CLI::Range(1u, bench::http_load_connections_max));
  cmd->add_option(
         "--pipeline", options->pipeline,
         "http driver: requests in flight per connection (HTTP/1.1 pipelining, sent in one write)")
      ->check(CLI::Range(1u, bench::http_load_pipeline_max));
  cmd->add_option("--http-threads", options->http_threads, "http driver: the gateway's I/O threads")
      ->check(CLI::Range(1u, 64u));
  cmd->add_option("--orders", options->orders, "order attempts");
  cmd->add_option("--stock", options->stock, "units per SKU (the hot SKU in flash-sale)");
  cmd->add_option("--buyers", options->buyers, "distinct buyers");
  cmd->add_option("--skus", options->skus, "catalog size (catalog, failures)");
  cmd->add_option("--zipf", options->zipf, "Zipf exponent for SKU popularity (0: uniform)");
  cmd->add_option("--window", options->window, "client driver, closed loop: orders in flight")
      ->check(CLI::Range(1u, 1u << 20));
  cmd->add_option("--rate", options->rate, "open loop: orders per second (0: closed loop)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("!--no-check", options->check,
                "do not run check on the runs' deployments (faster for big runs)");
  cmd->add_flag(
      "--half-peak", options->half_peak,
      "after each closed-loop run, an open-loop run at half its completed/s; report its saga p99");
  cmd->add_option("--half-peak-seconds", options->half_peak_seconds,
                  "how long the half-peak run sends, at most")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--target-p99-ms", options->target_p99_ms, "the half-peak saga p99 target")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--coupon-share", options->coupon_share, "share of orders with a valid coupon");
  cmd->add_option("--points-share", options->points_share, "share of orders paying with points");
  cmd->add_option("--bad-coupon-share", options->bad_coupon_share,
                  "share of orders with someone else's coupon");
  cmd->add_option("--poor-share", options->poor_share, "share of buyers with an empty wallet");
  cmd->add_option("--pg-decline-permille", options->pg_decline_permille,
                  "use the simulated PG, declining this share");
  cmd->add_option("--seed", options->seed, "random seed");
  cmd->add_option("--json", options->json_out,
                  "write the report as JSON (several runs: keyed by durability)");
  cmd->add_option("--csv", options->csv_out, "write every run's timeline (per 100 ms) as CSV");
  cmd->add_option("--plot", options->plot_dir,
                  "write gnuplot PNGs (throughput, latency, distribution) into this directory");
  cmd->add_flag("--quiet", options->quiet, "no progress lines");
  cmd->add_flag("--keep-data", options->keep_data,
                "keep the deployment's directory for the inspector");
  cmd->footer(
      "Examples:\n"
      "  flashsaga bench flash-sale --orders 1000000 --stock 10000 --durability sync\n"
      "  flashsaga bench catalog --skus 100000 --zipf 1.1 --coupon-share 0.1 --points-share 0.2\n"
      "  flashsaga bench failures --bad-coupon-share 0.05 --poor-share 0.05 --pg-decline-permille 50\n"
      "  flashsaga bench flash-sale --driver http --connections 64 --durability both --json out.json --plot plots\n"
      "  flashsaga bench flash-sale --durability both --half-peak      # p99 at half the closed-loop peak\n"
      "  flashsaga bench flash-sale --driver http --rate 5000          # open loop over HTTP\n"
      "\n"
      "Against Redis and PostgreSQL (bench/peers/run.sh, from a source checkout; installs\n"
      "redis-server and postgresql with apt-get when missing and run as root):\n"
      "  flashsaga bench peers --quick                                  # every peer, small sizes, ~2 min\n"
      "  flashsaga bench peers --scenarios catalog --systems flashsaga,redis\n"
      "  flashsaga bench peers --help                                   # all of run.sh's options\n"
      "It runs the same flash-sale and catalog workloads on flashsaga (sync, interval, nosync),\n"
      "Redis Lua (no persistence, AOF everysec, AOF always) and PostgreSQL (one transaction per\n"
      "order, synchronous_commit on and off), and prints a table of flashsaga/peer ratios;\n"
      "bench/peers/README.md says how each peer is treated fairly.");
  add_bench_peers_command(*cmd, options->executable);
  cmd->callback([cmd, options] {
    if (!cmd->get_subcommands().empty()) return;  // `bench peers` ran instead
    if (options->scenario == "failures" && options->bad_coupon_share == 0 &&
        options->poor_share == 0 && options->pg_decline_permille == 0) {
      options->bad_coupon_share = 0.05;
      options->poor_share = 0.05;
      options->pg_decline_permille = 50;
    }
    std::exit(bench::run_bench(*options));
  });
}

void add_demo_command(CLI::App& app, const std::filesystem::path& executable) {
  auto options = std::make_shared<DemoOptions>();
  options->executable = executable;
  CLI::App* cmd =
      app.add_subcommand("demo", "run a demo flash sale over HTTP and print its summary");
  cmd->add_option("--demo-data", options->data_dir,
                  "where the demo deployment keeps its journals (wiped first)");
  cmd->add_option("--http-port", options->port, "HTTP port of the demo deployment");
  cmd->add_option("--buyers", options->buyers, "buyers");
  cmd->add_option("--connections", options->connections, "concurrent keep-alive connections");
  cmd->add_option("--attempts", options->attempts, "order attempts");
  cmd->add_option("--hot-stock", options->hot_stock, "units of the hot SKU");
  cmd->add_option("--seed", options->seed, "random seed");
  cmd->callback([options] { std::exit(run_demo(*options)); });
}

// Whether the domain's process holds its lock (it is running); "" when not.
std::string domain_running(const engine::Config& config, ipc::Domain d) {
  const std::string lock = (config.domain_dir(d) / "domain.lock").string();
  const int fd = ::open(lock.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return {};
  const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
  ::close(fd);
  return held ? "the " + std::string(ipc::domain_name(d)) + " domain is running (" + lock +
                    " is locked): stop the deployment first"
              : std::string{};
}

// `flashsaga journal reset`: the named domains start over empty at the next `flashsaga run`.
// Their journal, view and staging logs are moved aside (to <name>.reset-<unix seconds>), not
// deleted. Exit 0 done, 1 refused (running, no --yes, unknown domain).
int reset_journals(const engine::Config& config, const std::string& which, bool yes) {
  std::vector<ipc::Domain> domains;
  if (which == "all")
    domains.assign(journal_domains.begin(), journal_domains.end());
  else if (const ipc::Domain d = parse_domain_name(which); d != ipc::Domain::none)
    domains.push_back(d);
  if (domains.empty()) {
    std::cerr << "flashsaga journal reset: unknown domain '" << which
              << "' (user, point, product, coupon, "
              << "payment, order or all)\n";
    return 1;
  }
  for (ipc::Domain d : domains)
    if (const std::string why = domain_running(config, d); !why.empty()) {
      std::cerr << "flashsaga journal reset: " << why << '\n';
      return 1;
    }
  const std::string suffix =
      ".reset-" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  for (ipc::Domain d : domains) {
    for (const char* name :
         {"journal", "view", "view.untrusted", "view.lifetime", "staging-a.log", "staging-b.log"}) {
      const std::filesystem::path from = config.domain_dir(d) / name;
      std::error_code ec;
      if (!std::filesystem::exists(from, ec)) continue;
      // A view in memory (a link): its directory there goes aside too, so the next start does
      // not find the old view through a new link.
      if (yes && std::filesystem::is_symlink(from, ec)) {
        const std::filesystem::path target = std::filesystem::read_symlink(from, ec);
        if (!ec) std::filesystem::rename(target, target.string() + suffix, ec);
      }
      if (!yes) {
        std::cout << "would move aside " << from.string() << '\n';
        continue;
      }
      std::filesystem::rename(from, from.string() + suffix, ec);
      if (ec) {
        std::cerr << "flashsaga journal reset: cannot move " << from.string()
                  << " aside: " << ec.message() << '\n';
        return 1;
      }
      std::cout << "moved " << from.string() << " to " << from.string() << suffix << '\n';
    }
  }
  if (!yes) {
    std::cout << "nothing done: add --yes to reset (the domain's data is lost to the deployment)\n";
    return 1;
  }
  std::cout
      << (which == "all"
              ? "the deployment starts over empty at the next `flashsaga run`\n"
              : "the domain starts empty at the next `flashsaga run`; the other domains still "
                "hold what it did: `flashsaga check` names it after the start\n");
  return 0;
}

void add_journal_reset(CLI::App& app, const std::function<engine::Config()>& config) {
  CLI::App* journal = app.get_subcommand("journal");
  auto which = std::make_shared<std::string>();
  auto yes = std::make_shared<bool>(false);
  CLI::App* cmd = journal->add_subcommand(
      "reset",
      "start a domain (or all) over empty: its journal, view and staging logs are moved aside");
  cmd->add_option("--domain", *which, "user, point, product, coupon, payment, order or all")
      ->required();
  cmd->add_flag("--yes", *yes, "do it (without: print what would be moved)");
  cmd->footer(
      "For a journal LMDB cannot open after a power loss under nosync (the supervisor names it and\n"
      "exits 3). The deployment must be stopped. Exit status: 0 reset, 1 refused.\n\n"
      "Examples:\n"
      "  flashsaga journal reset --data ./data --domain order          # what would be moved\n"
      "  flashsaga journal reset --data ./data --domain all --yes      # start over empty");
  cmd->callback([config, which, yes] { std::exit(reset_journals(config(), *which, *yes)); });
}

}  // namespace

void add_commands(CLI::App& app, const std::function<engine::Config()>& config,
                  const std::filesystem::path& executable) {
  add_bench_command(app, executable);
  add_demo_command(app, executable);
  add_status_command(app, config);
  add_check_command(app, config);
  add_inspector_commands(app, config);
  add_journal_reset(app, config);
}

int run_bench_peers(const std::filesystem::path& executable, const std::vector<std::string>& args) {
  std::filesystem::path script;
  std::string looked;
  for (const auto& candidate : peers_script_candidates(executable)) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(candidate, ec)) {
      script = candidate;
      break;
    }
    looked += "\n  " + candidate.string();
  }
  if (script.empty()) {
    std::fprintf(stderr,
                 "flashsaga bench peers: bench/peers/run.sh not found; looked in:%s\n"
                 "It is in the source tree: run it from a checkout (bench/peers/run.sh --help).\n",
                 looked.c_str());
    return 2;
  }
  if (std::getenv("FLASHSAGA") == nullptr) ::setenv("FLASHSAGA", executable.c_str(), 1);
  std::vector<std::string> argv_strings{"bash", script.string()};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execvp("bash", argv.data());
  std::fprintf(stderr, "flashsaga bench peers: cannot run bash %s: %s\n", script.c_str(),
               std::strerror(errno));
  return 2;
}

}  // namespace flashsaga::tools
