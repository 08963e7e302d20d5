#include "engine/config.h"

#include "domains/rows.h"
#include "ipc/segment.h"

#include <toml++/toml.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <sstream>

namespace flashsaga::engine {
namespace {

// Reads an integer key within [lo, hi]; records an error naming the key otherwise.
class Reader {
 public:
  Reader(const toml::table& root, std::string* error) : root_(root), error_(error) {}

  template <typename T>
  void integer(std::string_view section, std::string_view key, T& out, std::int64_t lo,
               std::int64_t hi) {
    const toml::node* n = find(section, key);
    if (!n) return;
    auto v = n->value_exact<
        std::int64_t>();  // an integer, never a float converted (51e30 would overflow)
    if (!v || *v < lo || *v > hi) {
      fail(*n, section, key,
           "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
      return;
    }
    out = static_cast<T>(*v);
  }

  void text(std::string_view section, std::string_view key, std::string& out) {
    const toml::node* n = find(section, key);
    if (!n) return;
    auto v = n->value<std::string>();
    if (!v) {
      fail(*n, section, key, "must be a string");
      return;
    }
    out = *v;
  }

  bool ok() const { return ok_; }

  // Every key present in the file must be one we know.
  void reject_unknown(const std::set<std::string>& known) {
    for (const auto& [section, node] : root_) {
      const toml::table* t = node.as_table();
      if (!t) {
        fail(node, std::string(section.str()), "", "is not a known section");
        continue;
      }
      for (const auto& [key, value] : *t) {
        const std::string full = std::string(section.str()) + "." + std::string(key.str());
        if (!known.count(full))
          fail(value, std::string(section.str()), key.str(), "is not a known setting");
      }
    }
  }

  void fail(const toml::node& n, std::string_view section, std::string_view key,
            const std::string& why) {
    if (!ok_) return;  // first error wins
    ok_ = false;
    std::ostringstream os;
    os << n.source().begin.line << ":" << n.source().begin.column << ": " << section;
    if (!key.empty()) os << "." << key;
    os << " " << why;
    *error_ = os.str();
  }

 private:
  const toml::node* find(std::string_view section, std::string_view key) const {
    const toml::table* t = root_[section].as_table();
    if (!t) return nullptr;
    return t->get(key);
  }
  const toml::table& root_;
  std::string* error_;
  bool ok_ = true;
};

bool is_pow2(std::uint32_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

constexpr std::size_t token_chars_min = 16;
constexpr std::size_t token_chars_max = 4096;

// Reads the operator token file (see config.h); "" when it is fine, else the problem.
std::string read_operator_token(const std::filesystem::path& file, std::string& token) {
  const std::string name = "auth.operator_token_file " + file.string();
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return name + ": cannot open: " + std::strerror(errno);
  struct stat st {};
  std::string problem;
  if (::fstat(fd, &st) != 0) {
    problem = name + ": cannot stat: " + std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    problem = name + ": is not a regular file";
  } else if ((st.st_mode & 07177) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    problem = name + ": has mode " + mode + "; it must be 0600 (chmod 600 " + file.string() + ")";
  } else if (st.st_size > static_cast<off_t>(token_chars_max + 2)) {
    problem = name + ": is larger than a token (at most " + std::to_string(token_chars_max) +
              " characters)";
  }
  char buf[token_chars_max + 3];
  const ssize_t n = problem.empty() ? ::read(fd, buf, sizeof buf) : 0;
  ::close(fd);
  if (!problem.empty()) return problem;
  if (n < 0) return name + ": cannot read: " + std::strerror(errno);
  std::string t(buf, static_cast<std::size_t>(n));
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  for (const char c : t)
    if (c <= ' ' || c > '~')
      return name + ": the token must be visible ASCII characters only (no spaces)";
  if (t.size() < token_chars_min || t.size() > token_chars_max)
    return name + ": the token must be " + std::to_string(token_chars_min) + " to " +
           std::to_string(token_chars_max) + " characters long";
  token = std::move(t);
  return "";
}

}  // namespace

std::filesystem::path Config::domain_dir(ipc::Domain domain) const {
  return data_dir / std::string(ipc::domain_name(domain));
}

journal::Options Config::journal_options(ipc::Domain domain) const {
  journal::Options o;
  o.domain = std::string(ipc::domain_name(domain));
  o.dir = domain_dir(domain) / "journal";
  o.durability = durability;
  o.map_size_bytes = static_cast<std::size_t>(map_size_mib) << 20;
  o.map_size_max_bytes = static_cast<std::size_t>(map_size_max_mib) << 20;
  o.space_reserve_bytes = static_cast<std::size_t>(space_reserve_mib) << 20;
  o.tables = domains::journal_tables();
  return o;
}

journal::Options Config::view_options(ipc::Domain domain) const {
  journal::Options o = journal_options(domain);
  o.dir = domain_dir(domain) / "view";
  // The view is rebuilt from the journal after a power loss, so it is never synced, and it is
  // mapped at its largest from the start: its writer never remaps under the business thread's
  // snapshots.
  o.durability = journal::Durability::nosync;
  o.write_map = true;
  o.map_size_bytes = o.map_size_max_bytes;
  o.tables = domains::all_tables(domain);
  return o;
}

std::filesystem::path Config::view_memory_dir(ipc::Domain domain) const {
  if (!views_in_memory) return {};
  // Named like the deployment's shared-memory segment (the same hash of the same path).
  return std::filesystem::path(view_memory_root) / ipc::Segment::name_for(data_dir) /
         std::string(ipc::domain_name(domain));
}

namespace {

// Every key a configuration file may hold; any other is an error.
const std::set<std::string>& known_keys() {
  static const std::set<std::string> keys = {
      "deployment.data_dir",
      "deployment.durability",
      "deployment.fsync_interval_ms",
      "deployment.views",
      "rings.saga_capacity_slots",
      "rings.port_capacity_slots",
      "rings.ports",
      "stock.products_max",
      "journal.map_size_mib",
      "journal.map_size_max_mib",
      "journal.space_reserve_mib",
      "memory.orders_in_memory",
      "saga.step_timeout_ms",
      "saga.reward_rate_bp",
      "payment.adapter",
      "payment.pg_latency_ms",
      "payment.pg_decline_permille",
      "payment.pg_hang_permille",
      "payment.pg_seed",
      "http.address",
      "http.port",
      "http.threads",
      "http.connections_max",
      "http.body_bytes_max",
      "http.header_bytes_max",
      "http.idle_timeout_ms",
      "http.request_timeout_ms",
      "http.idempotency_retention_s",
      "supervisor.restart_backoff_ms",
      "supervisor.drain_timeout_ms",
      "auth.operator_token_file",
  };
  return keys;
}

// Parses `path` into `root`, or says where and why it is not TOML.
bool parse_toml(const std::filesystem::path& path, toml::table& root, std::string* error) {
  try {
    root = toml::parse_file(path.string());
    return true;
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << path.string() << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
       << e.description();
    *error = os.str();
    return false;
  }
}

// The named choices a file gives as text, turned into their enums by settle().
struct Choices {
  std::string durability = "sync";
  std::string adapter = "wallet";
  std::string views = "memory";
};

// Reads every key into `c` (keeping the default where a key is absent) and `choices`.
void read_keys(Reader& r, Config& c, Choices& choices) {
  std::string data_dir = c.data_dir.string();
  r.text("deployment", "data_dir", data_dir);
  c.data_dir = data_dir;
  r.text("deployment", "durability", choices.durability);
  r.integer("deployment", "fsync_interval_ms", c.fsync_interval_ms, 1, 60'000);
  r.text("deployment", "views", choices.views);
  r.integer("rings", "saga_capacity_slots", c.geometry.saga_ring_slots, ring_capacity_slots_min,
            ring_capacity_slots_max);
  r.integer("rings", "port_capacity_slots", c.geometry.port_ring_slots, ring_capacity_slots_min,
            ring_capacity_slots_max);
  r.integer("rings", "ports", c.geometry.ports, 1, ports_max);
  r.integer("stock", "products_max", c.geometry.products_max, 16, 1 << 24);
  r.integer("journal", "map_size_mib", c.map_size_mib, 1, 1 << 20);
  r.integer("journal", "map_size_max_mib", c.map_size_max_mib, 1, 1 << 24);
  r.integer("journal", "space_reserve_mib", c.space_reserve_mib, 1, 1 << 16);
  r.integer("memory", "orders_in_memory", c.orders_in_memory, 1024, std::int64_t{1} << 26);
  r.integer("saga", "step_timeout_ms", c.step_timeout_ms, 1, 3'600'000);
  r.integer("saga", "reward_rate_bp", c.reward_rate_bp, 0, 10'000);
  r.text("payment", "adapter", choices.adapter);
  r.integer("payment", "pg_latency_ms", c.pg_latency_ms, 0, 600'000);
  r.integer("payment", "pg_decline_permille", c.pg_decline_permille, 0, 1000);
  r.integer("payment", "pg_hang_permille", c.pg_hang_permille, 0, 1000);
  r.integer("payment", "pg_seed", c.pg_seed, 0, INT64_MAX);
  r.text("http", "address", c.http_address);
  r.integer("http", "port", c.http_port, 0, 65535);
  r.integer("http", "threads", c.http_threads, 1, 64);
  r.integer("http", "connections_max", c.http_connections_max, 1, 1'000'000);
  r.integer("http", "body_bytes_max", c.http_body_bytes_max, 1024, 16 << 20);
  r.integer("http", "header_bytes_max", c.http_header_bytes_max, 1024, 1 << 20);
  r.integer("http", "idle_timeout_ms", c.http_idle_timeout_ms, 100, 3'600'000);
  r.integer("http", "request_timeout_ms", c.http_request_timeout_ms, 100, 3'600'000);
  r.integer("http", "idempotency_retention_s", c.idempotency_retention_s, 1, 30LL * 86400);
  r.integer("supervisor", "restart_backoff_ms", c.restart_backoff_ms, 0, 60'000);
  r.integer("supervisor", "drain_timeout_ms", c.drain_timeout_ms, 0, 600'000);
  std::string token_file;
  r.text("auth", "operator_token_file", token_file);
  c.operator_token_file = token_file;
}

// Turns the choices into enums and checks what spans keys; returns the problem, or "".
std::string settle(const Choices& choices, Config& c) {
  std::string problem;
  if (choices.durability == "sync")
    c.durability = journal::Durability::sync;
  else if (choices.durability == "nosync")
    c.durability = journal::Durability::nosync;
  else if (choices.durability == "interval")
    c.durability = journal::Durability::interval;
  else
    problem = "deployment.durability must be \"sync\", \"interval\" or \"nosync\"";
  if (choices.views == "memory" || choices.views == "disk")
    c.views_in_memory = choices.views == "memory";
  else
    problem = "deployment.views must be \"memory\" or \"disk\"";
  if (choices.adapter == "wallet")
    c.payment_adapter = PaymentAdapter::wallet;
  else if (choices.adapter == "pg")
    c.payment_adapter = PaymentAdapter::pg;
  else
    problem = "payment.adapter must be \"wallet\" or \"pg\"";
  if (!is_pow2(c.geometry.saga_ring_slots) || !is_pow2(c.geometry.port_ring_slots))
    problem = "rings.*_capacity_slots must be powers of two";
  if (c.map_size_max_mib < c.map_size_mib)
    problem = "journal.map_size_max_mib must be >= map_size_mib";
  if ((c.orders_in_memory & (c.orders_in_memory - 1)) != 0)
    problem = "memory.orders_in_memory must be a power of two";
  if (problem.empty() && !c.operator_token_file.empty())
    problem = read_operator_token(c.operator_token_file, c.operator_token);
  return problem;
}

}  // namespace

bool load_config(const std::filesystem::path& path, Config& out, std::string* error) {
  Config c;
  if (path.empty()) {
    out = c;
    return true;
  }
  toml::table root;
  if (!parse_toml(path, root, error)) return false;
  std::string problem;
  Reader r(root, &problem);
  r.reject_unknown(known_keys());
  Choices choices;
  read_keys(r, c, choices);
  if (r.ok()) problem = settle(choices, c);
  if (!problem.empty()) {
    *error = path.string() + ":" + problem;
    return false;
  }
  out = c;
  return true;
}

std::string default_config_toml() {
  const Config c;
  std::ostringstream os;
  os << "# flashsaga configuration. Every setting, with its default.\n"
        "# Command-line --data and --port override [deployment].data_dir and [http].port.\n\n"
        "[deployment]\n"
        "# Directory holding the six LMDB journals; also names the shared-memory segment.\n"
     << "data_dir = \"" << c.data_dir.string() << "\"\n"
     << "# \"sync\": fsync every group commit (a power loss loses nothing acknowledged).\n"
        "# \"interval\": fsync every fsync_interval_ms (a power loss loses at most about that).\n"
        "# \"nosync\": survives process crashes; the OS flushes later (see docs/durability.md).\n"
        "durability = \"sync\"\n"
        "fsync_interval_ms = "
     << c.fsync_interval_ms
     << "\n"
        "# \"memory\": each domain's view (the read model the gateway and the tools read) lives\n"
        "# on tmpfs (/dev/shm/flashsaga-views), rebuilt from the journal after a reboot;\n"
        "# \"disk\": beside the journal. The journals are on disk either way.\n"
        "views = \"memory\"\n\n"
        "[rings]\n"
        "# Slots per saga ring (and per port->order ring); a power of two. One slot is 256 bytes.\n"
     << "saga_capacity_slots = " << c.geometry.saga_ring_slots << "\n"
     << "# Slots per other port ring (commands and replies).\n"
     << "port_capacity_slots = " << c.geometry.port_ring_slots << "\n"
     << "# Ingress ports: the gateway's I/O threads take one each (port 0, then the next "
        "free ones);\n"
     << "# the rest serve client-library attachments.\n"
     << "ports = " << c.geometry.ports << "\n\n"
     << "[stock]\n# Capacity of the shared stock table (highest product id + 1).\n"
     << "products_max = " << c.geometry.products_max << "\n\n"
     << "[journal]\n# Initial LMDB map size per domain; grows by doubling up to the maximum.\n"
     << "map_size_mib = " << c.map_size_mib << "\n"
     << "map_size_max_mib = " << c.map_size_max_mib << "\n"
     << "# Disk space each journal keeps allocated ahead of what it uses, so a full disk is\n"
     << "# an error the domain answers (intake 503 until space returns), never a crash.\n"
     << "space_reserve_mib = " << c.space_reserve_mib << "\n\n"
     << "[memory]\n# Orders each order-keyed table keeps in memory (a power of two): the most "
        "recent\n"
     << "# ones; a late message about an older order reads it from the domain's view.\n"
     << "orders_in_memory = " << c.orders_in_memory << "\n\n"
     << "[saga]\n# A step (coupon, points, payment) that does not answer by then cancels the "
        "order.\n"
     << "step_timeout_ms = " << c.step_timeout_ms << "\n"
     << "# Reward points accrued on completion, in basis points of the amount paid.\n"
     << "reward_rate_bp = " << c.reward_rate_bp << "\n\n"
     << "[payment]\n# \"wallet\" (built-in balances) or \"pg\" (simulated external payment "
        "gateway).\n"
     << "adapter = \"wallet\"\n"
     << "# Simulated PG only: answer delay, decline and hang shares (per mille), seed.\n"
     << "pg_latency_ms = " << c.pg_latency_ms << "\n"
     << "pg_decline_permille = " << c.pg_decline_permille << "\n"
     << "pg_hang_permille = " << c.pg_hang_permille << "\n"
     << "pg_seed = " << c.pg_seed << "\n\n"
     << "[http]\n"
     << "address = \"" << c.http_address << "\"\n"
     << "port = " << c.http_port << "\n"
     << "# I/O threads: one event loop each, with its own ingress port (at most rings.ports "
        "of them).\n"
     << "threads = " << c.http_threads << "\n"
     << "connections_max = " << c.http_connections_max << "\n"
     << "body_bytes_max = " << c.http_body_bytes_max << "\n"
     << "header_bytes_max = " << c.http_header_bytes_max << "\n"
     << "idle_timeout_ms = " << c.http_idle_timeout_ms << "\n"
     << "request_timeout_ms = " << c.http_request_timeout_ms << "\n"
     << "# How long a POST's Idempotency-Key is remembered.\n"
     << "idempotency_retention_s = " << c.idempotency_retention_s << "\n\n"
     << "[supervisor]\n"
     << "restart_backoff_ms = " << c.restart_backoff_ms << "\n"
     << "# Graceful stop: how long in-flight sagas may take to reach a terminal state.\n"
     << "drain_timeout_ms = " << c.drain_timeout_ms << "\n\n"
     << "[auth]\n"
     << "# A file (mode 0600) holding the operator token. When set, the routes that change the\n"
     << "# catalog, money or a user's standing need Authorization: Bearer <token> (401 without,\n"
     << "# 403 wrong; docs/api-extensions.md). Empty: every route is open, so keep http.address\n"
     << "# on loopback. A relative path is taken from the working directory.\n"
     << "operator_token_file = \"" << c.operator_token_file.string() << "\"\n";
  return os.str();
}

}  // namespace flashsaga::engine
