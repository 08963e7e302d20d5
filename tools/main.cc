// flashsaga: one binary, one subcommand per role.
//
//   flashsaga run [--data DIR] [--config FILE] [--port N]   start a deployment, serve until stopped
//   flashsaga domain NAME ...                                 one domain process (started by run)
//   flashsaga cells ...                                       a cluster cell's NATS link (started by run --cluster)
//   flashsaga gateway ...                                     the HTTP gateway (started by run)
//   flashsaga config                                          print every setting with its default
//   flashsaga check | journal ... | trace ORDER               inspect a deployment's journals
//   flashsaga cluster-check cluster.toml                      the invariants across a cluster's cells
//   flashsaga demo                                            a demo flash sale, end to end
//   flashsaga bench ...                                       the benchmark harness
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <climits>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/cells/link.h"
#include "engine/cluster.h"
#include "engine/config.h"
#include "engine/domain_process.h"
#include "engine/gateway/gateway.h"
#include "engine/supervisor.h"
#include "tools/check/cluster_check.h"
#include "tools/commands.h"

namespace {

std::filesystem::path self_executable(const char* argv0) {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) return std::string(buf, static_cast<std::size_t>(n));
  return argv0;
}

// --cluster FILE --cell N: the cell's data dir, port and peers from cluster.toml (exits 2 on a
// bad pair or file).
void apply_cluster(const std::string& cluster_path, int cell, flashsaga::engine::Config& c) {
  using namespace flashsaga;
  engine::Cluster cluster;
  std::string why;
  if (cluster_path.empty() || cell < 0) why = "--cell and --cluster go together";
  if (why.empty() && engine::load_cluster(cluster_path, cluster, &why) &&
      engine::apply_cell(cluster, static_cast<std::uint32_t>(cell), c, &why))
    why.clear();
  else if (why.empty())
    why = "bad cluster file";
  if (!why.empty()) {
    std::fprintf(stderr, "flashsaga: %s\n", why.c_str());
    std::exit(2);
  }
  c.cluster_path = std::filesystem::absolute(cluster_path);
}

void add_cluster_check(CLI::App& app) {
  using namespace flashsaga;
  auto cluster_file = std::make_shared<std::string>();
  CLI::App* cluster_check = app.add_subcommand(
      "cluster-check",
      "prove every cell's invariants and the cross-cell catalog and stock invariants");
  cluster_check->add_option("cluster", *cluster_file, "cluster.toml")->required();
  cluster_check->callback([cluster_file] {
    engine::Cluster cluster;
    std::string why;
    if (!engine::load_cluster(*cluster_file, cluster, &why)) {
      std::fprintf(stderr, "flashsaga: %s\n", why.c_str());
      std::exit(2);
    }
    std::vector<std::filesystem::path> dirs;
    for (const engine::CellInfo& c : cluster.cells) dirs.push_back(c.data_dir);
    const tools::ClusterReport r = tools::run_cluster_check(dirs, {});
    tools::print_cluster_check(r, std::cout);
    std::exit(!r.error.empty() ? 2 : r.clean() ? 0 : 1);
  });
}

// What the command line binds: it outlives parsing, as the callbacks read it.
struct ProcessOptions {
  std::string config_path;
  bool no_gateway = false;
  std::string domain_name;
};

// The commands that start processes: run (the supervisor), domain, gateway and cells.
void add_process_commands(CLI::App& app, ProcessOptions& opts,
                          const std::function<flashsaga::engine::Config()>& load,
                          const std::filesystem::path& self) {
  using namespace flashsaga;
  CLI::App* run = app.add_subcommand(
      "run", "start a deployment (all domains and the gateway) and serve until stopped");
  run->footer(
      "Cluster: `flashsaga run --cluster cluster.toml --cell N` starts cell N of a cluster\n"
      "(its data dir and HTTP port from cluster.toml) plus its cell link to NATS JetStream;\n"
      "ids it creates are those with id % cells == N, and a request for another cell's user\n"
      "gets 421 naming that cell. tools/cluster.sh starts a three-node JetStream cluster and\n"
      "three cells on loopback (docs/cells.md).");
  run->add_flag("--no-gateway", opts.no_gateway,
                "run the domains only (clients attach with the client library)");
  run->callback([&opts, load, self] {
    engine::SupervisorOptions options;
    options.executable = self;
    options.config_path = opts.config_path.empty() ? std::filesystem::path()
                                                   : std::filesystem::absolute(opts.config_path);
    options.gateway = !opts.no_gateway;
    std::exit(engine::run_supervisor(load(), options));
  });

  CLI::App* domain =
      app.add_subcommand("domain", "run one domain process (the supervisor starts these)");
  domain->add_option("name", opts.domain_name, "user, point, product, coupon, order or payment")
      ->required();
  domain->callback([&opts, load, self] {
    const ipc::Domain d = engine::parse_domain(opts.domain_name);
    if (d == ipc::Domain::none) {
      std::fprintf(stderr, "flashsaga: unknown domain '%s'\n", opts.domain_name.c_str());
      std::exit(2);
    }
    std::exit(engine::run_domain(load(), d));
  });

  CLI::App* gateway =
      app.add_subcommand("gateway", "run the HTTP gateway (the supervisor starts it)");
  gateway->callback([load] { std::exit(run_gateway(load())); });

  CLI::App* link_cmd = app.add_subcommand(
      "cells", "run a cluster cell's link to NATS JetStream (run --cluster starts it)");
  link_cmd->callback([load] { std::exit(flashsaga::cells::run_cell_link(load())); });
}

}  // namespace

int main(int argc, char** argv) {
  using namespace flashsaga;
  CLI::App app{"flashsaga: a single-host flash-sale order engine"};
  app.require_subcommand(1);
  app.fallthrough();
  app.footer(
      "Examples:\n"
      "  flashsaga run --data ./data              start a deployment on http://127.0.0.1:8080\n"
      "  flashsaga demo                           run a demo flash sale and print its summary\n"
      "  flashsaga check --data ./data            prove the invariants from the journals\n"
      "  flashsaga trace 42 --data ./data         one order's timeline across six journals");

  std::string data_dir;
  ProcessOptions opts;
  int port = -1;
  app.add_option("--data", data_dir,
                 "deployment directory (journals; names the shared-memory segment)");
  app.add_option("--config", opts.config_path, "TOML config file (see `flashsaga config`)");
  app.add_option("--port", port, "HTTP port (default 8080)")->check(CLI::Range(0, 65535));
  std::string cluster_path;
  int cell = -1;
  app.add_option(
      "--cluster", cluster_path,
      "cluster.toml: run as one cell of a cluster joined by NATS JetStream (docs/cells.md)");
  app.add_option("--cell", cell,
                 "with --cluster: which cell this is (0..cells-1); its data dir and HTTP port "
                 "come from cluster.toml")
      ->check(CLI::Range(0, 63));

  std::string config_error;
  auto load = [&]() -> engine::Config {
    engine::Config c;
    if (!engine::load_config(opts.config_path, c, &config_error)) {
      std::fprintf(stderr, "flashsaga: bad config: %s\n", config_error.c_str());
      std::exit(2);
    }
    if (!cluster_path.empty() || cell >= 0) apply_cluster(cluster_path, cell, c);
    if (!data_dir.empty()) c.data_dir = data_dir;
    if (port >= 0) c.http_port = static_cast<std::uint16_t>(port);
    c.data_dir = std::filesystem::absolute(c.data_dir);
    return c;
  };

  add_process_commands(app, opts, load, self_executable(argv[0]));
  add_cluster_check(app);

  CLI::App* config =
      app.add_subcommand("config", "print every setting with its default, as a TOML file");
  config->callback([&] {
    std::cout << engine::default_config_toml();
    std::exit(0);
  });

  tools::add_commands(app, load, self_executable(argv[0]));
  // `bench peers ARGS...` hands ARGS, unparsed, to bench/peers/run.sh.
  if (argc >= 3 && std::string_view(argv[1]) == "bench" && std::string_view(argv[2]) == "peers")
    return tools::run_bench_peers(self_executable(argv[0]),
                                  std::vector<std::string>(argv + 3, argv + argc));

  CLI11_PARSE(app, argc, argv);
  return 0;
}
