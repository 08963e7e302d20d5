#include "bench/harness.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "bench/histogram.h"
#include "bench/http_client.h"
#include "domains/journal_open.h"
#include "domains/rows.h"
#include "engine/client.h"
#include "engine/runtime/runtime.h"
#include "engine/base/clock.h"
#include "engine/supervisor.h"
#include "tools/check/check.h"

namespace flashsaga::bench {
namespace {

using ipc::Domain;

constexpr std::uint32_t seed_window = 2048;             // commands in flight while loading
constexpr std::int64_t ready_timeout_ns = 60'000'000'000;
constexpr std::int64_t drain_timeout_ns = 300'000'000'000;
constexpr std::int64_t progress_interval_ns = 1'000'000'000;
constexpr std::int64_t timeline_bucket_ns = 100'000'000;
constexpr std::size_t timeline_buckets_max = 36'000;     // one hour of 100 ms buckets
constexpr std::uint64_t half_peak_attempts_min = 1'000;
constexpr std::size_t top_edges_count = 4;
constexpr std::int64_t settle_timeout_ns = 10'000'000'000;

struct Stopwatch {
  std::int64_t start = mono_now_ns();
  double seconds() const { return static_cast<double>(mono_now_ns() - start) / 1e9; }
};

double per(double count, double seconds) { return seconds > 0 ? count / seconds : 0.0; }
double per(std::uint64_t count, double seconds) { return per(static_cast<double>(count), seconds); }
double ratio(double a, std::uint64_t b) { return b ? a / static_cast<double>(b) : 0.0; }

// Bytes a process caused to be written to storage (/proc/PID/io write_bytes: counted when a
// page is dirtied, whether by write() or through a shared map), 0 if unreadable.
std::uint64_t write_bytes(pid_t pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/io");
  std::string key;
  std::uint64_t value = 0;
  while (in >> key >> value)
    if (key == "write_bytes:") return value;
  return 0;
}

// CPU seconds (user + system) of one process, from /proc.
double cpu_seconds(pid_t pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields;
  std::string field;
  for (std::size_t i = close + 2; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == ' ') {
      fields.push_back(field);
      field.clear();
    } else {
      field += text[i];
    }
  }
  if (fields.size() < 13) return 0;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return (std::stod(fields[11]) + std::stod(fields[12])) / ticks;  // utime, stime
}

// A loopback TCP port nobody listens on right now (the kernel's pick).
std::uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

class Zipf {
 public:
  Zipf(std::uint64_t n, double s) : cdf_(n) {
    double sum = 0;
    for (std::uint64_t i = 0; i < n; ++i) cdf_[i] = (sum += 1.0 / std::pow(static_cast<double>(i + 1), s));
    for (double& c : cdf_) c /= sum;
  }
  std::uint64_t operator()(std::mt19937_64& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<std::uint64_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

// Runs many commands with a bounded number in flight; returns how many succeeded.
template <typename MakeCommand>
std::uint64_t pipeline(engine::Client& client, std::uint64_t count, MakeCommand make, std::vector<std::uint64_t>* ids) {
  std::atomic<std::uint64_t> in_flight{0}, ok{0};
  if (ids) ids->assign(count, 0);
  for (std::uint64_t i = 0; i < count; ++i) {
    while (in_flight.load(std::memory_order_acquire) >= seed_window) std::this_thread::yield();
    const auto [to, message] = make(i);
    in_flight.fetch_add(1);
    const bool submitted = client.port().submit(to, message, [&, i](const engine::PortReply& r) {
      if (!r.timed_out) {
        const auto b = ipc::body_as<ipc::CommandReplyBody>(r.message);
        if (b.result == static_cast<std::uint16_t>(ipc::CommandResult::ok)) {
          ok.fetch_add(1);
          if (ids) (*ids)[i] = b.entity_id;
        }
      }
      in_flight.fetch_sub(1, std::memory_order_release);
    });
    if (!submitted) {
      in_flight.fetch_sub(1);
      --i;  // queue full: try again
      std::this_thread::yield();
    }
  }
  while (in_flight.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  return ok.load();
}

struct Outcomes {
  std::atomic<std::uint64_t> attempts{0}, accepted{0}, sold_out{0}, not_on_sale{0}, unavailable{0}, overloaded{0},
      rejected{0}, lost{0};
  // Sold-out answers over time (driver side: they leave no journal record), per 100 ms bucket
  // from the sale's start, and the first and last of them (monotonic ns).
  std::int64_t start_ns = 0;
  std::unique_ptr<std::atomic<std::uint64_t>[]> sold_out_buckets{new std::atomic<std::uint64_t>[timeline_buckets_max]{}};
  std::atomic<std::int64_t> first_sold_out_ns{0}, last_sold_out_ns{0};

  void note_sold_out(std::int64_t now_ns) noexcept {
    sold_out.fetch_add(1, std::memory_order_relaxed);
    const auto bucket = static_cast<std::size_t>(std::max<std::int64_t>(0, now_ns - start_ns) / timeline_bucket_ns);
    if (bucket < timeline_buckets_max) sold_out_buckets[bucket].fetch_add(1, std::memory_order_relaxed);
    std::int64_t none = 0;
    (void)first_sold_out_ns.compare_exchange_strong(none, now_ns, std::memory_order_relaxed);
    std::int64_t last = last_sold_out_ns.load(std::memory_order_relaxed);
    while (now_ns > last && !last_sold_out_ns.compare_exchange_weak(last, now_ns, std::memory_order_relaxed)) {
    }
  }
};

struct JournalFacts {
  LatencyHistogram latency;  // PENDING -> terminal
  std::uint64_t completed = 0, cancelled = 0;
  std::map<std::string, std::uint64_t> cancel_reasons;
  std::int64_t first_pending_ns = 0, last_terminal_ns = 0;
  std::vector<std::int64_t> pending_times;                            // wall ns
  std::vector<std::pair<std::int64_t, std::int64_t>> terminal_times;  // (terminal wall ns, latency ns)
};

// Waits (bounded) until nothing is on its way: every ring empty and every domain's outbox sent.
// A ring slot is released only after the batch that read it is journaled and in its view, so
// then every journal is final and every view holds its whole journal: what check
// --require-terminal judges. Returns false if the deployment did not settle in time.
bool settle(ipc::Deployment& d) {
  const std::int64_t deadline = mono_now_ns() + settle_timeout_ns;
  const auto quiet = [&] {
    for (int e = 0; e < d.edge_count(); ++e)
      if (d.ring(d.edge_from(e), d.edge_to(e)).depth() != 0) return false;
    for (std::uint8_t i = 1; i <= domain_count; ++i)
      if (d.status(static_cast<Domain>(i)).outbox_backlog.load(std::memory_order_relaxed) != 0)
        return false;
    return true;
  };
  while (!quiet()) {
    if (mono_now_ns() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Reads the order journal: when each order was journaled PENDING and when it ended.
void read_order_journal(const engine::Config& config, JournalFacts& facts) {
  std::unique_ptr<journal::Env> env;
  if (!domains::open_journal_read_only(config.data_dir, Domain::order, env).ok()) return;
  journal::ReadTxn txn;
  if (!env->begin_read(txn).ok()) return;
  std::vector<std::int64_t> pending_at;
  (void)txn.records(1, SIZE_MAX, [&](const journal::RecordView& r) {
    const auto type = static_cast<domains::RecordType>(r.header.type);
    const std::uint64_t id = r.header.order_id;
    if (type == domains::RecordType::order_pending) {
      if (pending_at.size() <= id) pending_at.resize(id + 1 + id / 2, 0);
      pending_at[id] = r.header.time_ns;
      facts.pending_times.push_back(r.header.time_ns);
      if (facts.first_pending_ns == 0) facts.first_pending_ns = r.header.time_ns;
    } else if (type == domains::RecordType::order_completed || type == domains::RecordType::order_cancelled) {
      if (id >= pending_at.size() || pending_at[id] == 0) return true;  // a refund of an old order
      const std::int64_t latency = r.header.time_ns - pending_at[id];
      pending_at[id] = 0;
      facts.latency.record(latency);
      facts.terminal_times.push_back({r.header.time_ns, latency});
      facts.last_terminal_ns = std::max(facts.last_terminal_ns, r.header.time_ns);
      if (type == domains::RecordType::order_completed) {
        ++facts.completed;
      } else {
        ++facts.cancelled;
        domains::Event ev{};
        if (journal::from_bytes(r.payload, ev))
          ++facts.cancel_reasons[std::string(ipc::order_reason_name(static_cast<ipc::OrderReason>(ev.reason)))];
      }
    }
    return true;
  });
}

// Bytes in use across the six journals (LMDB's high-water mark of pages).
std::uint64_t journal_used_bytes(const engine::Config& config) {
  std::uint64_t bytes = 0;
  for (std::uint8_t d = 1; d <= domain_count; ++d) {
    std::unique_ptr<journal::Env> env;
    if (domains::open_journal_read_only(config.data_dir, static_cast<Domain>(d), env).ok())
      bytes += env->stats().used_bytes;
  }
  return bytes;
}

// interval: waits until every domain has committed its staging log to its journal (the
// deployment is idle by now, so within one fsync interval), bounded by three intervals.
void wait_staged(const engine::Config& config) {
  if (config.durability != journal::Durability::interval) return;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(3 * config.fsync_interval_ms + 100);
  for (std::uint8_t d = 1; d <= domain_count; ++d) {
    for (int which = 0; which < 2; ++which) {
      const auto path = runtime::staging_log_path(config.journal_options(static_cast<Domain>(d)), which);
      std::error_code ec;
      while (std::filesystem::file_size(path, ec) != 0 && !ec && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

std::string node_name(ipc::Node n) {
  return n.domain == Domain::port ? fmt::format("port{}", n.port) : std::string(ipc::domain_name(n.domain));
}

// --- One run --------------------------------------------------------------------------------------

struct RunPlan {
  std::string durability;
  std::string label;       // "sync", "nosync half-peak", ...
  std::uint64_t orders = 0;
  double rate = 0;         // 0: closed loop
};

// Everything one run measured.
struct RunFigures {
  RunPlan plan;
  bool started = false;
  std::string error;
  std::uint64_t attempts = 0, accepted = 0, sold_out = 0, not_on_sale = 0, unavailable = 0, overloaded = 0,
                rejected = 0, lost = 0;
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

// The deployment one run measures: `flashsaga run` in a temporary directory, stopped on scope exit.
class BenchDeployment {
 public:
  BenchDeployment(const BenchOptions& opt, const RunPlan& plan) : opt_(opt) {
    char tmpl[] = "/tmp/flashsaga-bench-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    http_ = opt.driver == "http";
    if (http_) port_ = free_loopback_port();
    const std::filesystem::path config_path = dir_ / "bench.toml";
    {
      std::ofstream cfg(config_path);
      cfg << "[deployment]\ndata_dir = \"" << (dir_ / "data").string() << "\"\ndurability = \"" << plan.durability
          << "\"\n[rings]\nsaga_capacity_slots = 16384\nport_capacity_slots = 4096\nports = 4\n"
          << "[stock]\nproducts_max = " << std::max<std::uint64_t>(opt.skus + 16, 4096) << "\n"
          << "[journal]\nmap_size_mib = 1024\n[saga]\nstep_timeout_ms = 60000\n";
      if (opt.pg_decline_permille > 0)
        cfg << "[payment]\nadapter = \"pg\"\npg_decline_permille = " << opt.pg_decline_permille << "\n";
      if (http_)
        cfg << "[http]\naddress = \"127.0.0.1\"\nport = " << port_ << "\nthreads = " << opt.http_threads
            << "\nconnections_max = " << std::max<std::uint32_t>(4096, opt.connections + 64) << "\n";
    }
    if (!engine::load_config(config_path, config_, &error_)) return;
    supervisor_ = ::fork();
    if (supervisor_ == 0) {
      // If the bench dies (a crash, kill -9), its deployment stops with it instead of lingering.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      const std::string exe = opt.executable.string(), cfg = config_path.string();
      if (http_)
        ::execl(exe.c_str(), exe.c_str(), "run", "--config", cfg.c_str(), static_cast<char*>(nullptr));
      else
        ::execl(exe.c_str(), exe.c_str(), "run", "--no-gateway", "--config", cfg.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Bounded: ready means the client library is attached, intake is open and (http) /healthz is 200.
    const std::int64_t deadline = mono_now_ns() + ready_timeout_ns;
    HttpClient health("127.0.0.1", port_, 1'000);
    while (mono_now_ns() < deadline) {
      int status = 0;
      if (::waitpid(supervisor_, &status, WNOHANG) == supervisor_) {
        supervisor_ = 0;
        error_ = fmt::format("flashsaga run exited early (status {})", status);
        return;
      }
      if (!client_) (void)engine::Client::connect(config_, client_, &error_);
      if (client_ && client_->deployment().control().intake_open.load() == 1 &&
          (!http_ || health.request("GET", "/healthz").status == 200)) {
        ready_ = true;
        error_.clear();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (error_.empty()) error_ = "the deployment did not become ready in time";
  }

  ~BenchDeployment() {
    client_.reset();
    if (supervisor_ > 0) {
      ::kill(supervisor_, SIGTERM);
      int status = 0;
      ::waitpid(supervisor_, &status, 0);
    }
    std::error_code ec;
    if (!opt_.keep_data) std::filesystem::remove_all(dir_, ec);
    else fmt::print("  data kept in {}\n", dir_.string());
  }
  BenchDeployment(const BenchDeployment&) = delete;
  BenchDeployment& operator=(const BenchDeployment&) = delete;

  bool ready() const noexcept { return ready_; }
  const std::string& error() const noexcept { return error_; }
  engine::Client& client() noexcept { return *client_; }
  const engine::Config& config() const noexcept { return config_; }
  std::uint16_t http_port() const noexcept { return port_; }
  pid_t supervisor() const noexcept { return supervisor_; }

 private:
  const BenchOptions& opt_;
  std::filesystem::path dir_;
  engine::Config config_;
  std::unique_ptr<engine::Client> client_;
  std::string error_;
  pid_t supervisor_ = 0;
  bool http_ = false, ready_ = false;
  std::uint16_t port_ = 0;
};

// The catalog and buyers one run sells to.
struct Catalog {
  std::vector<std::uint64_t> products, users, coupons;
};

void load_catalog(const BenchOptions& opt, engine::Client& c, Catalog& cat) {
  const std::uint64_t skus = opt.scenario == "flash-sale" ? 1 : opt.skus;
  pipeline(c, skus, [&](std::uint64_t i) {
    ipc::CreateProductBody b{};
    b.price = 1'000 + static_cast<std::int64_t>(i % 100) * 10;
    b.stock = static_cast<std::int64_t>(opt.stock);
    (void)b.name.assign(fmt::format("sku-{}", i));
    return std::pair{Domain::product, ipc::make_message(ipc::MessageType::create_product, Domain::port, Domain::product, b)};
  }, &cat.products);
  pipeline(c, opt.buyers, [&](std::uint64_t i) {
    ipc::CreateUserBody b{};
    (void)b.name.assign(fmt::format("buyer {}", i));
    (void)b.email.assign(fmt::format("buyer{}@bench.example", i));
    return std::pair{Domain::user, ipc::make_message(ipc::MessageType::create_user, Domain::port, Domain::user, b)};
  }, &cat.users);
  const auto poor_cut = static_cast<std::uint64_t>(opt.poor_share * static_cast<double>(opt.buyers));
  pipeline(c, opt.buyers, [&](std::uint64_t i) {
    const std::int64_t amount = i < poor_cut ? 1 : 1'000'000'000;
    return std::pair{Domain::payment, ipc::make_message(ipc::MessageType::deposit, Domain::port, Domain::payment,
                                                         ipc::DepositBody{cat.users[i], amount})};
  }, nullptr);
  if (opt.points_share > 0)
    pipeline(c, opt.buyers, [&](std::uint64_t i) {
      ipc::AccruePointsBody b{};
      b.user_id = cat.users[i];
      b.amount = 10'000;
      return std::pair{Domain::point, ipc::make_message(ipc::MessageType::accrue_points, Domain::port, Domain::point, b)};
    }, nullptr);
  if (opt.coupon_share > 0 || opt.bad_coupon_share > 0) {
    auto t = c.create_coupon_template(ipc::CouponKind::percent, 10, 0, 0, 500);
    pipeline(c, opt.buyers, [&](std::uint64_t i) {
      return std::pair{Domain::coupon, ipc::make_message(ipc::MessageType::issue_coupon, Domain::port, Domain::coupon,
                                                          ipc::IssueCouponBody{t.id, cat.users[i]})};
    }, &cat.coupons);
  }
}

// Picks what each attempt orders (single-threaded: one driver thread asks).
class OrderMix {
 public:
  OrderMix(const BenchOptions& opt, const Catalog& cat)
      : opt_(opt), cat_(cat), flash_(opt.scenario == "flash-sale"), rng_(opt.seed),
        zipf_(flash_ ? 1 : cat.products.size(), opt.zipf > 0 ? opt.zipf : 1.0), coupon_used_(cat.users.size(), 0) {}

  engine::PlaceRequest next() {
    const std::uint64_t buyer = rng_() % cat_.users.size();
    engine::PlaceRequest req;
    req.user_id = cat_.users[buyer];
    const std::uint64_t skus = cat_.products.size();
    const std::uint64_t sku = flash_ ? 0 : (opt_.zipf > 0 ? zipf_(rng_) : rng_() % skus);
    req.item_count = 1;
    req.items[0] = ipc::LineItem{static_cast<std::uint32_t>(cat_.products[sku]), 1, 0};
    const double roll = std::uniform_real_distribution<double>(0, 1)(rng_);
    if (!cat_.coupons.empty() && roll < opt_.coupon_share + opt_.bad_coupon_share && !coupon_used_[buyer]) {
      const bool bad = roll < opt_.bad_coupon_share;
      req.coupon_id = bad ? cat_.coupons[(buyer + 1) % cat_.coupons.size()] : cat_.coupons[buyer];  // someone else's
      if (!bad) coupon_used_[buyer] = 1;
    }
    if (opt_.points_share > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < opt_.points_share) req.points = 100;
    return req;
  }

 private:
  const BenchOptions& opt_;
  const Catalog& cat_;
  bool flash_;
  std::mt19937_64 rng_;
  Zipf zipf_;
  std::vector<std::uint8_t> coupon_used_;
};

// The client-library driver: --window in flight, or open loop at plan.rate.
void sale_over_client(const BenchOptions& opt, const RunPlan& plan, engine::Client& c, OrderMix& mix, Outcomes& out,
                      RunFigures& fig, double& send_seconds) {
  std::atomic<std::uint64_t> in_flight{0};
  std::atomic_flag admission_lock = ATOMIC_FLAG_INIT;  // the port's reply thread and this one both record
  auto record_admission = [&](std::int64_t intended) {
    if (intended == 0) return;
    const std::int64_t late = mono_now_ns() - intended;
    while (admission_lock.test_and_set(std::memory_order_acquire)) std::this_thread::yield();
    fig.admission.record(late);
    admission_lock.clear(std::memory_order_release);
  };
  Stopwatch sale;
  const std::int64_t sale_start = mono_now_ns();
  for (std::uint64_t i = 0; i < plan.orders; ++i) {
    std::int64_t intended = 0;
    if (plan.rate > 0) {
      // Sleep (not spin) until the intended time: a spinning driver would take one of two cores.
      intended = sale_start + static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / plan.rate);
      const timespec at{static_cast<time_t>(intended / 1'000'000'000), static_cast<long>(intended % 1'000'000'000)};
      while (mono_now_ns() < intended && ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) == EINTR) {
      }
    }
    // A full window blocks the driver (futex) instead of spinning.
    for (std::uint64_t seen = in_flight.load(std::memory_order_acquire); seen >= opt.window;
         seen = in_flight.load(std::memory_order_acquire))
      in_flight.wait(seen, std::memory_order_acquire);
    const engine::PlaceRequest req = mix.next();
    in_flight.fetch_add(1, std::memory_order_acq_rel);
    out.attempts.fetch_add(1, std::memory_order_relaxed);
    const engine::PlaceNow now = c.port().place_order(req, [&, intended](const engine::PortReply& r) {
      if (r.timed_out) {
        out.lost.fetch_add(1);
      } else {
        const auto b = ipc::body_as<ipc::PlaceOrderReplyBody>(r.message);
        if (b.result == static_cast<std::uint8_t>(ipc::PlaceResult::accepted)) out.accepted.fetch_add(1);
        else out.rejected.fetch_add(1);
      }
      record_admission(intended);
      if (in_flight.fetch_sub(1, std::memory_order_acq_rel) == opt.window) in_flight.notify_one();
    });
    if (now.status != engine::PlaceStatus::submitted) {
      in_flight.fetch_sub(1, std::memory_order_acq_rel);
      record_admission(intended);
      switch (now.status) {
        case engine::PlaceStatus::sold_out: out.note_sold_out(mono_now_ns()); break;
        case engine::PlaceStatus::not_on_sale: out.not_on_sale.fetch_add(1); break;
        case engine::PlaceStatus::overloaded: out.overloaded.fetch_add(1); break;
        case engine::PlaceStatus::unavailable: out.unavailable.fetch_add(1); break;
        default: out.rejected.fetch_add(1); break;
      }
    }
  }
  send_seconds = sale.seconds();
  // Bounded by the port's request timeout: every submitted order gets its callback.
  while (in_flight.load() != 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
}

// The error code of a JSON error answer: the value of "error", or "".
std::string error_code(std::string_view body) {
  constexpr std::string_view key = "\"error\":\"";
  const std::size_t at = body.find(key);
  if (at == std::string_view::npos) return "";
  const std::size_t end = body.find('"', at + key.size());
  if (end == std::string_view::npos) return "";
  return std::string(body.substr(at + key.size(), end - at - key.size()));
}

// The HTTP driver: POST /orders over --connections keep-alive connections, --pipeline requests
// in flight on each (one epoll thread).
bool sale_over_http(const BenchOptions& opt, const RunPlan& plan, std::uint16_t port, OrderMix& mix, Outcomes& out,
                    RunFigures& fig, double& send_seconds, std::string* error) {
  HttpLoadPlan load;
  load.port = port;
  load.connections = opt.connections;
  load.pipeline = opt.pipeline;
  load.requests = plan.orders;
  load.rate = plan.rate;
  std::string body;
  const std::string host = "127.0.0.1:" + std::to_string(port);
  std::int64_t last_sent_ns = 0;
  const auto make = [&](std::uint64_t i, std::string& bytes) {
    const engine::PlaceRequest req = mix.next();
    body = fmt::format(R"({{"user_id":{},"items":[{{"product_id":{},"quantity":{}}}])", req.user_id,
                       req.items[0].product_id, req.items[0].quantity);
    if (req.coupon_id != 0) body += fmt::format(R"(,"coupon_id":{})", req.coupon_id);
    if (req.points != 0) body += fmt::format(R"(,"points":{})", req.points);
    body += '}';
    bytes = format_request("POST", "/orders", host, body, {{"Idempotency-Key", fmt::format("bench-{}-{}", opt.seed, i)}});
    out.attempts.fetch_add(1, std::memory_order_relaxed);
    last_sent_ns = mono_now_ns();
  };
  const auto on_answer = [&](const HttpLoadAnswer& a) {
    fig.http.record(a.answered_ns - a.sent_ns);
    if (plan.rate > 0) fig.admission.record(a.answered_ns - a.intended_ns);
    std::string key = std::to_string(a.status);
    const std::string code = a.status >= 400 ? error_code(a.body) : std::string();
    if (!code.empty()) key += " " + code;
    if (a.status == 0) key = "error: " + std::string(a.body);
    ++fig.http_status[key];
    if (a.status == 202) out.accepted.fetch_add(1, std::memory_order_relaxed);
    else if (a.status == 409 && code == "sold_out") out.note_sold_out(a.answered_ns);
    else if (a.status == 409 && code == "not_on_sale") out.not_on_sale.fetch_add(1, std::memory_order_relaxed);
    else if (a.status == 503 && code == "overloaded") out.overloaded.fetch_add(1, std::memory_order_relaxed);
    else if (a.status == 503) out.unavailable.fetch_add(1, std::memory_order_relaxed);
    else if (a.status == 0) out.lost.fetch_add(1, std::memory_order_relaxed);
    else out.rejected.fetch_add(1, std::memory_order_relaxed);
  };
  const std::int64_t start = mono_now_ns();
  if (!HttpLoad::run(load, make, on_answer, error)) return false;
  send_seconds = static_cast<double>(std::max(last_sent_ns, start + 1) - start) / 1e9;
  return true;
}

// What a run's figures are measured against: every process's CPU and disk writes, commits and
// journal bytes, read just before the sale.
struct Meter {
  std::vector<std::pair<std::string, pid_t>> procs;
  std::vector<double> cpu_before;
  std::vector<std::uint64_t> written_before;
  double self_before = 0;
  std::uint64_t commits_before = 0, bytes_before = 0;

  Meter(const BenchOptions& opt, BenchDeployment& dep) {
    engine::Client& c = dep.client();
    procs = {{"supervisor", dep.supervisor()}};
    for (std::uint8_t d = 1; d <= domain_count; ++d)
      procs.push_back({std::string(ipc::domain_name(static_cast<Domain>(d))),
                       static_cast<pid_t>(c.deployment().status(static_cast<Domain>(d)).pid.load())});
    if (opt.driver == "http") procs.push_back({"gateway", static_cast<pid_t>(c.deployment().port(0).owner_pid.load())});
    for (const auto& p : procs) {
      cpu_before.push_back(cpu_seconds(p.second));
      written_before.push_back(write_bytes(p.second));
    }
    self_before = cpu_seconds(::getpid());
    commits_before = total_commits(c);
    bytes_before = journal_used_bytes(dep.config());
  }
  static std::uint64_t total_commits(engine::Client& c) {
    std::uint64_t n = 0;
    for (std::uint8_t d = 1; d <= domain_count; ++d) n += c.deployment().status(static_cast<Domain>(d)).commits.load();
    return n;
  }
  // CPU, disk writes and commits since the meter was made.
  void read(const BenchOptions& opt, engine::Client& c, RunFigures& fig) const {
    fig.driver_cpu_s = cpu_seconds(::getpid()) - self_before;
    fig.cpu_s = fig.driver_cpu_s;
    fig.cpu_by_process.push_back({opt.driver == "http" ? "driver (http load)" : "driver (+ its port)", fig.driver_cpu_s});
    for (std::size_t i = 0; i < procs.size(); ++i) {
      const double sec = cpu_seconds(procs[i].second) - cpu_before[i];
      fig.cpu_s += sec;
      fig.cpu_by_process.push_back({procs[i].first, sec});
      fig.disk_bytes += write_bytes(procs[i].second) - written_before[i];
    }
    fig.commits = total_commits(c) - commits_before;
  }
};

// Ring depth peaks per edge and, unless quiet, a progress line per progress_interval_ns, until
// `monitoring` goes false.
void monitor_sale(const BenchOptions& opt, engine::Client& c, const Catalog& cat, const Outcomes& out,
                  const std::atomic<bool>& monitoring, std::vector<std::uint64_t>& depth_peak) {
  const int edges = c.deployment().edge_count();
  const bool flash = opt.scenario == "flash-sale";
  const std::int64_t started = mono_now_ns();
  std::int64_t next_progress = started + progress_interval_ns;
  std::uint64_t last_attempts = 0, last_accepted = 0;
  while (monitoring.load()) {
    for (int e = 0; e < edges; ++e)
      depth_peak[e] = std::max(depth_peak[e], c.deployment().ring(c.deployment().edge_from(e), c.deployment().edge_to(e)).depth());
    if (!opt.quiet && mono_now_ns() > next_progress) {
      next_progress += progress_interval_ns;
      const std::uint64_t a = out.attempts.load(), acc = out.accepted.load();
      fmt::print("  {:>5.0f} s {:>9} attempts ({:>7}/s)  admitted {:>8} ({:>6}/s)  sold out {:>9}  errors {:>5}{}\n",
                 static_cast<double>(mono_now_ns() - started) / 1e9, a, a - last_attempts, acc, acc - last_accepted,
                 out.sold_out.load(), out.lost.load() + out.overloaded.load() + out.unavailable.load(),
                 flash ? fmt::format("  stock left {}", c.available(static_cast<std::uint32_t>(cat.products[0]))) : "");
      std::fflush(stdout);
      last_attempts = a;
      last_accepted = acc;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// The door's outcomes, the order journal's facts and the ring peaks into fig.
void read_outcomes(engine::Client& c, const engine::Config& config, const Outcomes& out, const Meter& meter,
                   const std::vector<std::uint64_t>& depth_peak, RunFigures& fig) {
  fig.attempts = out.attempts.load();
  fig.accepted = out.accepted.load();
  fig.sold_out = out.sold_out.load();
  if (fig.sold_out > 1)
    fig.sold_out_s = static_cast<double>(out.last_sold_out_ns.load() - out.first_sold_out_ns.load()) / 1e9;
  std::size_t buckets = timeline_buckets_max;
  while (buckets > 0 && out.sold_out_buckets[buckets - 1].load() == 0) --buckets;
  for (std::size_t b = 0; b < buckets; ++b) fig.sold_out_timeline.push_back(out.sold_out_buckets[b].load());
  fig.not_on_sale = out.not_on_sale.load();
  fig.unavailable = out.unavailable.load();
  fig.overloaded = out.overloaded.load();
  fig.rejected = out.rejected.load();
  fig.lost = out.lost.load();
  wait_staged(config);
  read_order_journal(config, fig.facts);
  const std::uint64_t bytes_after = journal_used_bytes(config);
  fig.journal_bytes = bytes_after > meter.bytes_before ? bytes_after - meter.bytes_before : 0;
  fig.saga_s = fig.facts.last_terminal_ns > fig.facts.first_pending_ns
                   ? static_cast<double>(fig.facts.last_terminal_ns - fig.facts.first_pending_ns) / 1e9
                   : 0;
  std::vector<std::pair<std::uint64_t, int>> peaks;
  for (int e = 0; e < static_cast<int>(depth_peak.size()); ++e) {
    const ipc::Node to = c.deployment().edge_to(e);
    const std::string consumer = to.domain == Domain::port ? "ports" : std::string(ipc::domain_name(to.domain));
    fig.depth_peak_by_domain[consumer] = std::max(fig.depth_peak_by_domain[consumer], depth_peak[e]);
    peaks.push_back({depth_peak[e], e});
  }
  std::sort(peaks.rbegin(), peaks.rend());
  for (std::size_t i = 0; i < top_edges_count && i < peaks.size(); ++i)
    fig.top_edges += fmt::format("{}{}->{} {}", i ? ", " : "", node_name(c.deployment().edge_from(peaks[i].second)),
                                 node_name(c.deployment().edge_to(peaks[i].second)), peaks[i].first);
}

// check --require-terminal on the live deployment once it is at rest: every saga ended, every
// compensation applied, every view caught up with its journal.
void check_run(const BenchOptions& opt, engine::Client& c, const engine::Config& config, bool sold, RunFigures& fig) {
  const bool settled = settle(c.deployment());
  tools::CheckOptions check_options;
  check_options.data_dir = config.data_dir;
  check_options.require_terminal = true;
  tools::CheckReport check;
  if (opt.check) check = tools::run_check(check_options);
  fig.clean = sold && check.error.empty() && check.violations.empty();
  fig.violations = check.violations.size();
  if (!check.error.empty()) fig.check_text = check.error;
  else if (!check.violations.empty()) fig.check_text = fmt::format("{} VIOLATIONS", check.violations.size());
  else fig.check_text = opt.check ? "clean (0 violations)" : "skipped (--no-check)";
  if (!sold) fig.check_text += " (driver failed: " + fig.error + ")";
  if (!settled) fig.check_text += " (the deployment had not settled: messages still on their way)";
  if (!check.violations.empty() || !check.error.empty()) tools::print_check(check, std::cout);
}

bool run_once(const BenchOptions& opt, const RunPlan& plan, RunFigures& fig) {
  fig.plan = plan;
  if (!opt.quiet)
    fmt::print("\n--- run: {} ({} loop{}, {} attempts, driver {}) ---\n", plan.label, plan.rate > 0 ? "open" : "closed",
               plan.rate > 0 ? fmt::format(" at {:.0f}/s", plan.rate) : std::string(), plan.orders, opt.driver);
  BenchDeployment dep(opt, plan);
  if (!dep.ready()) {
    fig.error = dep.error();
    fmt::print(stderr, "bench: {}\n", fig.error);
    return false;
  }
  fig.started = true;
  engine::Client& c = dep.client();
  const engine::Config& config = dep.config();

  Stopwatch load;
  Catalog cat;
  load_catalog(opt, c, cat);
  fig.load_s = load.seconds();
  if (!opt.quiet) fmt::print("loaded {} SKUs and {} buyers in {:.2f} s\n", cat.products.size(), cat.users.size(), fig.load_s);
  if (cat.products.empty() || cat.users.empty() || cat.products[0] == 0) {
    fig.error = "loading the catalog failed";
    return false;
  }

  const Meter meter(opt, dep);
  Outcomes out;
  std::atomic<bool> monitoring{true};
  std::vector<std::uint64_t> depth_peak(static_cast<std::size_t>(c.deployment().edge_count()), 0);
  std::thread monitor([&] { monitor_sale(opt, c, cat, out, monitoring, depth_peak); });

  OrderMix mix(opt, cat);
  Stopwatch sale;
  out.start_ns = sale.start;
  fig.sale_start_wall_ns = wall_now_ns();
  bool sold = true;
  if (opt.driver == "http") {
    sold = sale_over_http(opt, plan, dep.http_port(), mix, out, fig, fig.send_s, &fig.error);
  } else {
    sale_over_client(opt, plan, c, mix, out, fig, fig.send_s);
  }
  fig.admit_s = sale.seconds();
  const std::int64_t drain_deadline = mono_now_ns() + drain_timeout_ns;
  while (engine::count_pending_orders(config) != 0 && mono_now_ns() < drain_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  fig.done_s = sale.seconds();
  monitoring.store(false);
  monitor.join();

  meter.read(opt, c, fig);
  read_outcomes(c, config, out, meter, depth_peak, fig);
  check_run(opt, c, config, sold, fig);
  return sold;
}

// --- Report ---------------------------------------------------------------------------------------

std::string ms(std::uint64_t ns) { return fmt::format("{:.3f}", static_cast<double>(ns) / 1e6); }
std::string num(double v, int decimals = 0) { return std::isfinite(v) ? fmt::format("{:.{}f}", v, decimals) : "0"; }

std::string json_escape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(ch));
    } else {
      out += ch;
    }
  }
  return out;
}

// A JSON object built field by field (values are JSON already).
class JsonObject {
 public:
  JsonObject& raw(std::string_view key, std::string_view value) {
    text_ += text_.empty() ? "{" : ",";
    text_ += fmt::format("\"{}\":{}", json_escape(key), value);
    return *this;
  }
  JsonObject& str(std::string_view key, std::string_view value) {
    return raw(key, "\"" + json_escape(value) + "\"");
  }
  JsonObject& num(std::string_view key, double value, int decimals = 3) {
    return raw(key, std::isfinite(value) ? fmt::format("{:.{}f}", value, decimals) : "0");
  }
  JsonObject& integer(std::string_view key, std::uint64_t value) { return raw(key, std::to_string(value)); }
  JsonObject& boolean(std::string_view key, bool value) { return raw(key, value ? "true" : "false"); }
  std::string done() const { return text_.empty() ? "{}" : text_ + "}"; }

 private:
  std::string text_;
};

std::string latency_json(const LatencyHistogram& h) {
  return JsonObject()
      .integer("count", h.count())
      .integer("p50", h.quantile(0.5))
      .integer("p90", h.quantile(0.9))
      .integer("p99", h.quantile(0.99))
      .integer("p999", h.quantile(0.999))
      .integer("max", h.max())
      .done();
}

std::string run_json(const BenchOptions& opt, const RunFigures& f) {
  JsonObject reasons, status, cpu, peaks;
  for (const auto& [reason, n] : f.facts.cancel_reasons) reasons.integer(reason, n);
  for (const auto& [key, n] : f.http_status) status.integer(key, n);
  for (const auto& [name, s] : f.cpu_by_process) cpu.num(name, s);
  for (const auto& [name, n] : f.depth_peak_by_domain) peaks.integer(name, n);
  const std::uint64_t done = f.orders_done();
  const bool sync = f.plan.durability == "sync";
  JsonObject j;
  j.str("scenario", opt.scenario)
      .str("durability", f.plan.durability)
      .str("driver", opt.driver)
      .str("label", f.plan.label)
      .str("loop", f.plan.rate > 0 ? "open" : "closed")
      .num("rate", f.plan.rate, 1)
      .integer(opt.driver == "http" ? "connections" : "window",
               opt.driver == "http" ? opt.connections : opt.window)
      .integer("pipeline", opt.driver == "http" ? opt.pipeline : 1)
      .integer("attempts", f.attempts)
      .integer("admitted", f.accepted)
      .integer("sold_out", f.sold_out)
      .integer("not_on_sale", f.not_on_sale)
      .integer("rejected", f.rejected)
      .integer("unavailable", f.unavailable)
      .integer("overloaded", f.overloaded)
      .integer("lost", f.lost)
      .integer("completed", f.facts.completed)
      .integer("cancelled", f.facts.cancelled)
      .raw("cancelled_by_reason", reasons.done())
      .num("attempts_per_s", per(f.attempts, f.send_s), 1)
      .num("admitted_per_s", per(f.accepted, f.admit_s), 1)
      .num("completed_per_s", f.completed_per_s(), 1)
      .num("sold_out_per_s", f.sold_out_per_s(), 1)
      .raw("latency_ns", latency_json(f.facts.latency));
  if (f.plan.rate > 0) j.raw("admission_latency_ns", latency_json(f.admission));
  if (opt.driver == "http")
    j.raw("http", JsonObject().raw("status", status.done()).raw("latency_ns", latency_json(f.http)).done());
  j.num("cpu_s", f.cpu_s).num("cpu_s_per_1k_attempts", ratio(f.cpu_s, f.attempts) * 1000, 4)
      .num("cpu_s_per_1k_orders", ratio(f.cpu_s, f.accepted) * 1000, 4)
      .num("cpu_s_per_1k_orders_deployment", ratio(f.cpu_s - f.driver_cpu_s, f.accepted) * 1000, 4)
      .num("disk_bytes_per_order", ratio(static_cast<double>(f.disk_bytes), f.accepted), 0)
      .raw("cpu_s_by_process", cpu.done())
      .integer("journal_bytes", f.journal_bytes).num("journal_bytes_per_order", ratio(static_cast<double>(f.journal_bytes), done), 1)
      .integer("commits", f.commits).num("commits_per_order", ratio(static_cast<double>(f.commits), done), 4)
      .num("fsyncs_per_order", sync ? ratio(static_cast<double>(f.commits), done) : 0.0, 4)
      .raw("ring_depth_peak", peaks.done())
      .raw("phases_s", JsonObject().num("load", f.load_s).num("sent", f.send_s).num("answered", f.admit_s)
                           .num("ended", f.done_s).num("sagas", f.saga_s).done())
      .raw("check", JsonObject().boolean("clean", f.clean).integer("violations", f.violations).str("verdict", f.check_text).done())
      .boolean("check_clean", f.clean);
  if (!f.error.empty()) j.str("error", f.error);
  return j.done();
}

// One closed-loop run, and (with --half-peak) the open-loop run at half its peak.
struct DurabilityResult {
  RunFigures peak;
  bool has_half = false;
  RunFigures half;
  double half_rate = 0;
  bool met() const { return has_half && half.clean && half.facts.latency.count() > 0; }
};

std::string half_json(const BenchOptions& opt, const DurabilityResult& r) {
  const std::uint64_t target = static_cast<std::uint64_t>(opt.target_p99_ms * 1e6);
  const std::uint64_t p99 = r.half.facts.latency.quantile(0.99);
  return JsonObject()
      .num("peak_completed_per_s", r.peak.completed_per_s(), 1)
      .num("rate", r.half_rate, 1)
      .integer("p99_ns", p99)
      .integer("target_p99_ns", target)
      .boolean("met", r.met() && p99 <= target)
      .raw("run", run_json(opt, r.half))
      .done();
}

std::string durability_json(const BenchOptions& opt, const DurabilityResult& r) {
  std::string peak = run_json(opt, r.peak);
  if (r.has_half) peak.insert(peak.size() - 1, ",\"half_peak\":" + half_json(opt, r));
  return peak;
}

// The comparison table: one row per figure, one column per run.
class Table {
 public:
  explicit Table(const std::vector<const RunFigures*>& runs) : runs_(runs) {}
  const std::vector<const RunFigures*>& runs() const { return runs_; }
  template <class Cell>
  void row(std::string label, Cell cell) {
    std::vector<std::string> cells;
    for (const RunFigures* f : runs_) cells.push_back(cell(*f));
    rows_.push_back({std::move(label), std::move(cells)});
  }
  void print(const BenchOptions& opt) const;

 private:
  const std::vector<const RunFigures*>& runs_;
  std::vector<std::pair<std::string, std::vector<std::string>>> rows_;
};

template <class Map>
std::string count_of(const Map& m, const std::string& key) {
  const auto it = m.find(key);
  return std::to_string(it == m.end() ? 0 : it->second);
}

// The keys that any run has, so every run gets a row for each.
struct RunKeys {
  std::set<std::string> reasons, statuses, consumers;
  std::vector<std::string> processes;  // in the order the runs list them
};

RunKeys keys_of(const std::vector<const RunFigures*>& runs) {
  RunKeys k;
  for (const RunFigures* f : runs) {
    for (const auto& [r, n] : f->facts.cancel_reasons) k.reasons.insert(r);
    for (const auto& [st, n] : f->http_status) k.statuses.insert(st);
    for (const auto& [p, s] : f->cpu_by_process)
      if (std::find(k.processes.begin(), k.processes.end(), p) == k.processes.end()) k.processes.push_back(p);
    for (const auto& [d, n] : f->depth_peak_by_domain) k.consumers.insert(d);
  }
  return k;
}

void outcome_rows(Table& t, const RunKeys& k) {
  auto row = [&t](std::string label, auto cell) { t.row(std::move(label), cell); };
  row("loop", [](const RunFigures& f) { return f.plan.rate > 0 ? fmt::format("open {:.0f}/s", f.plan.rate) : std::string("closed"); });
  row("attempts", [](const RunFigures& f) { return std::to_string(f.attempts); });
  row("attempts/s (sent)", [](const RunFigures& f) { return num(per(f.attempts, f.send_s)); });
  row("admitted (202)", [](const RunFigures& f) { return std::to_string(f.accepted); });
  row("admitted/s", [](const RunFigures& f) { return num(per(f.accepted, f.admit_s)); });
  row("sold out (at the door)", [](const RunFigures& f) { return std::to_string(f.sold_out); });
  row("sold-out answers/s (once sold out)", [](const RunFigures& f) { return num(f.sold_out_per_s()); });
  row("rejected/unavail./overload/lost", [](const RunFigures& f) {
    return fmt::format("{}/{}/{}/{}", f.rejected, f.unavailable, f.overloaded, f.lost);
  });
  row("completed", [](const RunFigures& f) { return std::to_string(f.facts.completed); });
  row("completed/s (first 202->last end)", [](const RunFigures& f) { return num(f.completed_per_s()); });
  row("cancelled", [](const RunFigures& f) { return std::to_string(f.facts.cancelled); });
  for (const std::string& reason : k.reasons)
    row("  cancelled: " + reason, [&](const RunFigures& f) { return count_of(f.facts.cancel_reasons, reason); });
}

void latency_rows(Table& t, const BenchOptions& opt, const RunKeys& k) {
  auto row = [&t](std::string label, auto cell) { t.row(std::move(label), cell); };
  const std::vector<const RunFigures*>& runs = t.runs();
  row("saga latency ms (journal), orders", [](const RunFigures& f) { return std::to_string(f.facts.latency.count()); });
  for (const auto& [name, q] : {std::pair{"  p50", 0.5}, {"  p90", 0.9}, {"  p99", 0.99}, {"  p99.9", 0.999}})
    row(name, [q = q](const RunFigures& f) { return ms(f.facts.latency.quantile(q)); });
  row("  max", [](const RunFigures& f) { return ms(f.facts.latency.max()); });
  bool open = false;
  for (const RunFigures* f : runs) open = open || f->plan.rate > 0;
  if (open) {
    row("admission ms (intended->answer)", [](const RunFigures&) { return std::string(); });
    for (const auto& [name, q] : {std::pair{"  p50", 0.5}, {"  p99", 0.99}, {"  p99.9", 0.999}})
      row(name, [q = q](const RunFigures& f) { return f.plan.rate > 0 ? ms(f.admission.quantile(q)) : "-"; });
    row("  max", [](const RunFigures& f) { return f.plan.rate > 0 ? ms(f.admission.max()) : "-"; });
  }
  if (opt.driver == "http") {
    row("HTTP latency ms (send->answer)", [](const RunFigures&) { return std::string(); });
    for (const auto& [name, q] : {std::pair{"  p50", 0.5}, {"  p90", 0.9}, {"  p99", 0.99}, {"  p99.9", 0.999}})
      row(name, [q = q](const RunFigures& f) { return ms(f.http.quantile(q)); });
    row("  max", [](const RunFigures& f) { return ms(f.http.max()); });
    row("HTTP answers", [](const RunFigures&) { return std::string(); });
    for (const std::string& s : k.statuses)
      row("  " + s, [&](const RunFigures& f) { return count_of(f.http_status, s); });
  }
}

void cost_rows(Table& t, const RunKeys& k) {
  auto row = [&t](std::string label, auto cell) { t.row(std::move(label), cell); };
  row("CPU s per 1k orders (all procs)", [](const RunFigures& f) { return num(ratio(f.cpu_s, f.accepted) * 1000, 3); });
  row("CPU s per 1k orders (deployment)",
      [](const RunFigures& f) { return num(ratio(f.cpu_s - f.driver_cpu_s, f.accepted) * 1000, 3); });
  row("CPU s per 1k attempts (all procs)", [](const RunFigures& f) { return num(ratio(f.cpu_s, f.attempts) * 1000, 3); });
  for (const std::string& p : k.processes)
    row("  CPU s: " + p, [&](const RunFigures& f) {
      for (const auto& [name, s] : f.cpu_by_process)
        if (name == p) return num(s, 2);
      return std::string("-");
    });
  row("journal bytes per order", [](const RunFigures& f) { return num(ratio(static_cast<double>(f.journal_bytes), f.orders_done())); });
  row("disk bytes written per order", [](const RunFigures& f) { return num(ratio(static_cast<double>(f.disk_bytes), f.accepted)); });
  row("journal commits per order",
      [](const RunFigures& f) { return num(ratio(static_cast<double>(f.commits), f.orders_done()), 3); });
  row("fsyncs per order", [](const RunFigures& f) {
    if (f.plan.durability == "interval") return std::string("1 per interval");
    return f.plan.durability == "sync" ? num(ratio(static_cast<double>(f.commits), f.orders_done()), 3) : std::string("0 (nosync)");
  });
}

void ring_and_check_rows(Table& t, const RunKeys& k) {
  auto row = [&t](std::string label, auto cell) { t.row(std::move(label), cell); };
  row("ring depth peak (input), slots", [](const RunFigures&) { return std::string(); });
  for (const std::string& d : k.consumers)
    row("  " + d, [&](const RunFigures& f) { return count_of(f.depth_peak_by_domain, d); });
  row("phases s: sent/answered/ended",
      [](const RunFigures& f) { return fmt::format("{:.1f}/{:.1f}/{:.1f}", f.send_s, f.admit_s, f.done_s); });
  row("check", [](const RunFigures& f) {
    if (f.check_text.starts_with("skipped")) return std::string("skipped");
    return f.clean ? std::string("clean") : std::string("NOT CLEAN");
  });

}

void Table::print(const BenchOptions& opt) const {
  std::size_t width = 16;
  for (const RunFigures* f : runs_) width = std::max(width, f->plan.label.size() + 2);
  for (const auto& [label, cells] : rows_)
    for (const std::string& c : cells) width = std::max(width, c.size() + 2);
  fmt::print("\nflashsaga bench: scenario {}, driver {}, {} ({}), {} attempts\n", opt.scenario,
             opt.driver,
             opt.driver == "http"
                 ? fmt::format("{} connections, pipeline {}", opt.connections, opt.pipeline)
                 : fmt::format("window {}", opt.window),
             opt.durability == "both" ? "sync and nosync" : opt.durability, opt.orders);
  std::string header = fmt::format("  {:<36}", "");
  for (const RunFigures* f : runs_) header += fmt::format("{:>{}}", f->plan.label, width);
  fmt::print("{}\n", header);
  for (const auto& [label, cells] : rows_) {
    std::string line = fmt::format("  {:<36}", label);
    for (const std::string& c : cells) line += fmt::format("{:>{}}", c, width);
    fmt::print("{}\n", line);
  }
  for (const RunFigures* f : runs_) {
    fmt::print("  {}: busiest rings {}\n", f->plan.label, f->top_edges.empty() ? "-" : f->top_edges);
    fmt::print("  {}: check: {}\n", f->plan.label, f->check_text);
  }
}

void print_table(const BenchOptions& opt, const std::vector<const RunFigures*>& runs) {
  Table t(runs);
  const RunKeys k = keys_of(runs);
  outcome_rows(t, k);
  latency_rows(t, opt, k);
  cost_rows(t, k);
  ring_and_check_rows(t, k);
  t.print(opt);
}

// Timeline per 100 ms: admitted/s and completed/s from the journal's own times, saga p50/p99.
std::string timeline_csv(const std::vector<const RunFigures*>& runs) {
  std::ostringstream series;
  series << "run,t_s,admitted_per_s,completed_per_s,sold_out_per_s,p50_ms,p99_ms\n";
  for (const RunFigures* f : runs) {
    std::map<std::int64_t, std::vector<std::int64_t>> ends;
    std::map<std::int64_t, std::uint64_t> starts;
    const std::int64_t t0 = f->sale_start_wall_ns;
    for (const auto& [t, l] : f->facts.terminal_times) ends[std::max<std::int64_t>(0, t - t0) / timeline_bucket_ns].push_back(l);
    for (const std::int64_t t : f->facts.pending_times) ++starts[std::max<std::int64_t>(0, t - t0) / timeline_bucket_ns];
    std::set<std::int64_t> buckets;
    for (const auto& [b, v] : ends) buckets.insert(b);
    for (const auto& [b, v] : starts) buckets.insert(b);
    for (std::size_t b = 0; b < f->sold_out_timeline.size(); ++b) buckets.insert(static_cast<std::int64_t>(b));
    const double scale = 1e9 / static_cast<double>(timeline_bucket_ns);
    for (const std::int64_t b : buckets) {
      std::vector<std::int64_t>& ls = ends[b];
      std::sort(ls.begin(), ls.end());
      const double p50 = ls.empty() ? 0 : static_cast<double>(ls[ls.size() / 2]) / 1e6;
      const double p99 = ls.empty() ? 0 : static_cast<double>(ls[ls.size() * 99 / 100]) / 1e6;
      const std::uint64_t sold_out =
          static_cast<std::size_t>(b) < f->sold_out_timeline.size() ? f->sold_out_timeline[static_cast<std::size_t>(b)] : 0;
      series << fmt::format("{},{:.1f},{:.0f},{:.0f},{:.0f},{:.3f},{:.3f}\n", f->plan.label, static_cast<double>(b) / scale,
                            static_cast<double>(starts[b]) * scale, static_cast<double>(ls.size()) * scale,
                            static_cast<double>(sold_out) * scale, p50, p99);
    }
  }
  return series.str();
}

std::string file_label(std::string s) {
  for (char& ch : s)
    if (ch == ' ') ch = '-';
  return s;
}

// gnuplot PNGs: per run throughput and latency over time; one latency distribution of all runs.
void write_plots(const BenchOptions& opt, const std::vector<const RunFigures*>& runs) {
  std::error_code ec;
  std::filesystem::create_directories(opt.plot_dir, ec);
  const std::string dir = opt.plot_dir.string();
  std::string script = "set datafile separator ','\nset terminal pngcairo size 1000,600\nset grid\n"
                       "set key outside bottom center horizontal\n";
  std::vector<std::string> pngs;
  for (const RunFigures* f : runs) {
    const std::string name = file_label(f->plan.label);
    const std::string data = dir + "/" + name + "-timeline.csv";
    std::ofstream(data) << timeline_csv({f});
    const std::string title = fmt::format("flashsaga {} ({}, {} driver)", opt.scenario, f->plan.label, opt.driver);
    script += fmt::format(
        "set output '{0}/{1}-throughput.png'\nset title '{2}: throughput'\nset xlabel 'seconds'\n"
        "set ylabel 'orders/s'\nset y2label 'sold-out answers/s'\nset y2tics\nset ytics nomirror\nunset logscale\n"
        "plot '{3}' using 2:3 skip 1 with lines title 'admitted/s', '' using 2:4 skip 1 with lines title 'completed/s', "
        "'' using 2:5 skip 1 axes x1y2 with lines title 'sold-out answers/s (right)'\n"
        "unset y2tics\nunset y2label\nset ytics mirror\n"
        "set output '{0}/{1}-latency.png'\nset title '{2}: saga latency (PENDING -> end) by end time'\nset ylabel 'ms'\n"
        "plot '{3}' using 2:6 skip 1 with lines title 'p50', '' using 2:7 skip 1 with lines title 'p99'\n",
        dir, name, title, data);
    pngs.push_back(dir + "/" + name + "-throughput.png");
    pngs.push_back(dir + "/" + name + "-latency.png");
  }
  // The latency distribution, HDR style: x = 1 / (1 - quantile) on a log scale.
  const std::string dist = dir + "/latency-distribution.csv";
  {
    std::ofstream d(dist);
    d << "# run,quantile,one_over_one_minus_q,latency_ms\n";
    for (const RunFigures* f : runs) {
      const LatencyHistogram& h = f->facts.latency;
      if (h.count() == 0) continue;
      for (int k = 0; k <= 64; ++k) {
        const double q = 1.0 - std::pow(10.0, -static_cast<double>(k) / 8.0);
        if (1.0 - q < 1.0 / static_cast<double>(h.count())) break;
        d << fmt::format("{},{:.6f},{:.3f},{:.3f}\n", f->plan.label, q, 1.0 / (1.0 - q),
                         static_cast<double>(h.quantile(q)) / 1e6);
      }
      d << "\n\n";  // gnuplot index separator: one block per run
    }
  }
  script += fmt::format(
      "set output '{0}/latency-distribution.png'\nset title 'flashsaga {1}: saga latency distribution'\n"
      "set xlabel 'percentile'\nset ylabel 'ms'\nset logscale x\n"
      "set xtics ('0%%' 1, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000)\nplot ",
      dir, opt.scenario);
  int block = 0;
  for (const RunFigures* f : runs) {
    if (f->facts.latency.count() == 0) continue;
    script += fmt::format("{}'{}' index {} using 3:4 with linespoints title '{}'", block ? ", " : "", dist, block,
                          f->plan.label);
    ++block;
  }
  script += block ? "\n" : "0 notitle\n";
  pngs.push_back(dir + "/latency-distribution.png");
  const std::string script_path = dir + "/plot.gp";
  std::ofstream(script_path) << script;
  if (std::system(("gnuplot " + script_path + " 2>/dev/null").c_str()) == 0)
    for (const std::string& p : pngs) fmt::print("  plot: {}\n", p);
  else
    fmt::print("  plot: gnuplot failed or is missing; the script is {}\n", script_path);
}

}  // namespace

int run_bench(const BenchOptions& opt) {
  std::vector<std::string> durabilities;
  if (opt.durability == "both") durabilities = {"sync", "nosync"};
  else if (opt.durability == "all") durabilities = {"sync", "interval", "nosync"};
  else durabilities = {opt.durability};
  std::vector<std::unique_ptr<DurabilityResult>> results;
  bool ok = true;
  for (const std::string& d : durabilities) {
    auto r = std::make_unique<DurabilityResult>();
    ok = run_once(opt, RunPlan{d, d, opt.orders, opt.rate}, r->peak) && ok;
    if (opt.half_peak && r->peak.started) {
      r->has_half = true;
      r->half_rate = r->peak.completed_per_s() / 2;
      std::uint64_t orders = std::min<std::uint64_t>(
          opt.orders, std::max<std::uint64_t>(half_peak_attempts_min,
                                              static_cast<std::uint64_t>(r->half_rate * opt.half_peak_seconds)));
      if (opt.scenario == "flash-sale") orders = std::min<std::uint64_t>(orders, opt.stock);
      if (r->half_rate <= 0) {
        fmt::print(stderr, "bench: the {} run completed nothing; no half-peak run\n", d);
        r->has_half = false;
        ok = false;
      } else {
        ok = run_once(opt, RunPlan{d, d + " half-peak", orders, r->half_rate}, r->half) && ok;
      }
    }
    results.push_back(std::move(r));
  }

  std::vector<const RunFigures*> runs;
  bool clean = ok;
  for (const auto& r : results) {
    runs.push_back(&r->peak);
    clean = clean && r->peak.clean;
    if (r->has_half) {
      runs.push_back(&r->half);
      clean = clean && r->half.clean;
    }
  }
  print_table(opt, runs);
  for (const auto& r : results) {
    if (!r->has_half) continue;
    const std::uint64_t p99 = r->half.facts.latency.quantile(0.99);
    fmt::print("  half peak ({}): closed-loop peak {:.0f} completed/s -> open loop at {:.0f}/s: saga p99 {} ms "
               "(target <= {:.1f} ms: {})\n",
               r->peak.plan.durability, r->peak.completed_per_s(), r->half_rate, ms(p99), opt.target_p99_ms,
               r->met() && static_cast<double>(p99) <= opt.target_p99_ms * 1e6 ? "met" : "NOT met");
  }
  fmt::print("  check: {}\n", !opt.check ? "skipped (--no-check)"
                               : clean   ? "clean (0 violations in every run)"
                                         : "NOT CLEAN (see above)");

  if (!opt.json_out.empty()) {
    std::string json;
    if (results.size() == 1) {
      json = durability_json(opt, *results[0]);
    } else {
      JsonObject j;
      j.str("scenario", opt.scenario).str("driver", opt.driver).str("durability", opt.durability);
      for (const auto& r : results) j.raw(r->peak.plan.durability, durability_json(opt, *r));
      j.boolean("check_clean", clean);
      json = j.done();
    }
    std::ofstream(opt.json_out) << json << "\n";
  }
  if (!opt.csv_out.empty()) std::ofstream(opt.csv_out) << timeline_csv(runs);
  if (!opt.plot_dir.empty()) write_plots(opt, runs);
  return clean ? 0 : 1;
}

}  // namespace flashsaga::bench
