// config: every setting of a deployment, with its default, loaded from a TOML file.
//
// `flashsaga config` prints the defaults as a TOML file (tools/flashsaga.toml is that output).
// Command-line --data and --port override the file. Unknown keys are errors (a typo must not
// silently fall back to a default).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "domains/options.h"
#include "ipc/deployment.h"
#include "journal/journal.h"

namespace flashsaga::engine {

using domains::PaymentAdapter;  // [payment] adapter

// Where views kept in memory live: one directory per deployment (runtime/view_open.h).
inline constexpr const char* view_memory_root = "/dev/shm/flashsaga-views";

struct Config {
  // [deployment]
  std::filesystem::path data_dir = "flashsaga-data";
  journal::Durability durability = journal::Durability::sync;
  std::int64_t fsync_interval_ms = 1000;  // durability "interval": how often journals are synced
  // "memory": each domain's view (the read model) lives on tmpfs under view_memory_root, linked
  // from <data>/<domain>/view; "disk": in that directory itself (runtime/view_open.h).
  bool views_in_memory = true;
  // [rings]
  ipc::Geometry geometry;
  // [journal]
  std::uint64_t map_size_mib = 256;
  std::uint64_t map_size_max_mib = 65536;
  std::uint64_t space_reserve_mib = 16;  // disk kept allocated ahead of each journal's use
  // [memory]
  std::uint64_t orders_in_memory = 262144;  // per order-keyed table: the most recent orders
  // [saga]
  std::int64_t step_timeout_ms = 5000;  // a step that does not answer cancels the order
  std::int64_t reward_rate_bp = 100;    // reward points per completed order, basis points of paid
  // [payment]
  PaymentAdapter payment_adapter = PaymentAdapter::wallet;
  std::int64_t pg_latency_ms = 0;         // simulated external gateway: answer delay
  std::uint32_t pg_decline_permille = 0;  // share of charges the PG declines
  std::uint32_t pg_hang_permille = 0;     // share of charges the PG never answers
  std::uint64_t pg_seed = 1;              // decisions are a pure function of (seed, order id)
  // [http]
  std::uint16_t http_port = 8080;
  std::string http_address = "127.0.0.1";
  std::uint32_t http_threads = 2;
  std::uint32_t http_connections_max = 4096;
  std::uint32_t http_body_bytes_max = 65536;
  std::uint32_t http_header_bytes_max = 16384;
  std::int64_t http_idle_timeout_ms = 30000;
  std::int64_t http_request_timeout_ms = 10000;  // slow client: whole request must arrive by then
  std::int64_t idempotency_retention_s = 86400;
  // [supervisor]
  std::int64_t restart_backoff_ms = 200;
  std::int64_t drain_timeout_ms = 10000;  // graceful stop: time for in-flight sagas to settle
  // [auth]
  std::filesystem::path operator_token_file;  // "" = no token: every route open (as before)
  std::string operator_token;                 // read from the file by load_config
  // Cluster (engine/cluster.h; set from cluster.toml by --cell/--cluster, never from this file).
  // cells == 1 is a single host: ids and behaviour exactly as without a cluster.
  std::uint32_t cell = 0;
  std::uint32_t cells = 1;
  std::vector<std::string> cell_addresses;  // index = cell
  std::vector<std::string> nats_servers;
  std::uint32_t nats_replicas = 3;
  std::filesystem::path cluster_path;  // absolute; empty on a single host

  // <data>/<domain>: the domain's directory (its lock file, journal/ and view/).
  std::filesystem::path domain_dir(ipc::Domain domain) const;
  // The domain's journal environment (<data>/<domain>/journal), with the runtime's tables.
  journal::Options journal_options(ipc::Domain domain) const;
  // The domain's view environment (<data>/<domain>/view), with the domain's tables.
  journal::Options view_options(ipc::Domain domain) const;
  // Where the domain's view lives when views are in memory (view_memory_root/<the deployment's
  // segment name, flashsaga-<hash of the data dir>>/<domain>); empty when they are on disk.
  std::filesystem::path view_memory_dir(ipc::Domain domain) const;
};

// Loads the file (if path is empty, the defaults). On error returns false and sets *error to
// "<file>:<line>:<col>: <problem>". A set auth.operator_token_file is read here: it must be a
// regular file of mode 0600 (or 0400) holding one token of 16 to 4096 visible ASCII characters
// (a trailing newline is ignored); anything else is an error naming the file.
bool load_config(const std::filesystem::path& path, Config& out, std::string* error);
// The defaults, as a commented TOML file.
std::string default_config_toml();

}  // namespace flashsaga::engine
