#include "bench/run.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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

constexpr std::uint32_t seed_window = 2048;  // commands in flight while loading
constexpr std::int64_t ready_timeout_ns = 60'000'000'000;
constexpr std::int64_t drain_timeout_ns = 300'000'000'000;
constexpr std::int64_t progress_interval_ns = 1'000'000'000;
constexpr std::size_t top_edges_count = 4;
constexpr std::int64_t settle_timeout_ns = 10'000'000'000;

struct Stopwatch {
  std::int64_t start = mono_now_ns();
  double seconds() const { return static_cast<double>(mono_now_ns() - start) / 1e9; }
};

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

constexpr std::size_t threads_counted_max = 4096;  // per process

// CPU seconds of one process's live threads, in nanoseconds from /proc/PID/task/*/schedstat (its
// first field: time on a CPU); false where the kernel keeps no schedstat.
bool schedstat_seconds(pid_t pid, double& out) {
  std::error_code ec;
  std::uint64_t ns = 0;
  std::size_t threads = 0;
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  for (std::filesystem::directory_iterator it(tasks, ec), end;
       !ec && it != end && threads < threads_counted_max; it.increment(ec), ++threads) {
    std::ifstream in(it->path() / "schedstat");
    std::uint64_t v = 0;
    if (!(in >> v)) return false;
    ns += v;
  }
  if (ec || threads == 0) return false;
  out = static_cast<double>(ns) / 1e9;
  return true;
}

// CPU seconds (user + system) of one process, from /proc: to the nanosecond where the kernel
// keeps schedstat (a small run's processes use less than the 10 ms a clock tick counts),
// else in clock ticks from /proc/PID/stat.
double cpu_seconds(pid_t pid) {
  if (pid <= 0) return 0;
  if (pid == ::getpid()) {  // this process: the threads that ended count too
    rusage u{};
    if (::getrusage(RUSAGE_SELF, &u) == 0)
      return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
             static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  }
  if (double s = 0; schedstat_seconds(pid, s)) return s;
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
    for (std::uint64_t i = 0; i < n; ++i)
      cdf_[i] = (sum += 1.0 / std::pow(static_cast<double>(i + 1), s));
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
std::uint64_t pipeline(engine::Client& client, std::uint64_t count, MakeCommand make,
                       std::vector<std::uint64_t>* ids) {
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
  std::atomic<std::uint64_t> attempts{0}, accepted{0}, sold_out{0}, not_on_sale{0}, unavailable{0},
      overloaded{0}, rejected{0}, lost{0};
  // Sold-out answers over time (driver side: they leave no journal record), per 100 ms bucket
  // from the sale's start, and the first and last of them (monotonic ns).
  std::int64_t start_ns = 0;
  std::unique_ptr<std::atomic<std::uint64_t>[]> sold_out_buckets {
    new std::atomic<std::uint64_t>[timeline_buckets_max] {}
  };
  std::atomic<std::int64_t> first_sold_out_ns{0}, last_sold_out_ns{0};

  void note_sold_out(std::int64_t now_ns) noexcept {
    sold_out.fetch_add(1, std::memory_order_relaxed);
    const auto bucket =
        static_cast<std::size_t>(std::max<std::int64_t>(0, now_ns - start_ns) / timeline_bucket_ns);
    if (bucket < timeline_buckets_max)
      sold_out_buckets[bucket].fetch_add(1, std::memory_order_relaxed);
    std::int64_t none = 0;
    (void)first_sold_out_ns.compare_exchange_strong(none, now_ns, std::memory_order_relaxed);
    std::int64_t last = last_sold_out_ns.load(std::memory_order_relaxed);
    while (now_ns > last &&
           !last_sold_out_ns.compare_exchange_weak(last, now_ns, std::memory_order_relaxed)) {
    }
  }
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
    } else if (type == domains::RecordType::order_completed ||
               type == domains::RecordType::order_cancelled) {
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
          ++facts.cancel_reasons[std::string(
              ipc::order_reason_name(static_cast<ipc::OrderReason>(ev.reason)))];
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
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(3 * config.fsync_interval_ms + 100);
  for (std::uint8_t d = 1; d <= domain_count; ++d) {
    for (int which = 0; which < 2; ++which) {
      const auto path =
          runtime::staging_log_path(config.journal_options(static_cast<Domain>(d)), which);
      std::error_code ec;
      while (std::filesystem::file_size(path, ec) != 0 && !ec &&
             std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

std::string node_name(ipc::Node n) {
  return n.domain == Domain::port ? fmt::format("port{}", n.port)
                                  : std::string(ipc::domain_name(n.domain));
}

// --- One run --------------------------------------------------------------------------------------

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
      cfg << "[deployment]\ndata_dir = \"" << (dir_ / "data").string() << "\"\ndurability = \""
          << plan.durability << "\"\nviews = \"" << opt.views
          << "\"\n[rings]\nsaga_capacity_slots = 16384\nport_capacity_slots = 4096\nports = 4\n"
          << "[stock]\nproducts_max = " << std::max<std::uint64_t>(opt.skus + 16, 4096) << "\n"
          << "[journal]\nmap_size_mib = 1024\n[saga]\nstep_timeout_ms = 60000\n";
      if (opt.pg_decline_permille > 0)
        cfg << "[payment]\nadapter = \"pg\"\npg_decline_permille = " << opt.pg_decline_permille
            << "\n";
      if (http_)
        cfg << "[http]\naddress = \"127.0.0.1\"\nport = " << port_
            << "\nthreads = " << opt.http_threads
            << "\nconnections_max = " << std::max<std::uint32_t>(4096, opt.connections + 64)
            << "\n";
    }
    if (!engine::load_config(config_path, config_, &error_)) return;
    supervisor_ = ::fork();
    if (supervisor_ == 0) {
      // If the bench dies (a crash, kill -9), its deployment stops with it instead of lingering.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      const std::string exe = opt.executable.string(), cfg = config_path.string();
      if (http_)
        ::execl(exe.c_str(), exe.c_str(), "run", "--config", cfg.c_str(),
                static_cast<char*>(nullptr));
      else
        ::execl(exe.c_str(), exe.c_str(), "run", "--no-gateway", "--config", cfg.c_str(),
                static_cast<char*>(nullptr));
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
    if (!opt_.keep_data)
      std::filesystem::remove_all(dir_, ec);
    else
      fmt::print("  data kept in {}\n", dir_.string());
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
  pipeline(
      c, skus,
      [&](std::uint64_t i) {
        ipc::CreateProductBody b{};
        b.price = 1'000 + static_cast<std::int64_t>(i % 100) * 10;
        b.stock = static_cast<std::int64_t>(opt.stock);
        (void)b.name.assign(fmt::format("sku-{}", i));
        return std::pair{Domain::product, ipc::make_message(ipc::MessageType::create_product,
                                                            Domain::port, Domain::product, b)};
      },
      &cat.products);
  pipeline(
      c, opt.buyers,
      [&](std::uint64_t i) {
        ipc::CreateUserBody b{};
        (void)b.name.assign(fmt::format("buyer {}", i));
        (void)b.email.assign(fmt::format("buyer{}@bench.example", i));
        return std::pair{Domain::user, ipc::make_message(ipc::MessageType::create_user,
                                                         Domain::port, Domain::user, b)};
      },
      &cat.users);
  const auto poor_cut =
      static_cast<std::uint64_t>(opt.poor_share * static_cast<double>(opt.buyers));
  pipeline(
      c, opt.buyers,
      [&](std::uint64_t i) {
        const std::int64_t amount = i < poor_cut ? 1 : 1'000'000'000;
        return std::pair{Domain::payment,
                         ipc::make_message(ipc::MessageType::deposit, Domain::port, Domain::payment,
                                           ipc::DepositBody{cat.users[i], amount})};
      },
      nullptr);
  if (opt.points_share > 0)
    pipeline(
        c, opt.buyers,
        [&](std::uint64_t i) {
          ipc::AccruePointsBody b{};
          b.user_id = cat.users[i];
          b.amount = 10'000;
          return std::pair{Domain::point, ipc::make_message(ipc::MessageType::accrue_points,
                                                            Domain::port, Domain::point, b)};
        },
        nullptr);
  if (opt.coupon_share > 0 || opt.bad_coupon_share > 0) {
    auto t = c.create_coupon_template(ipc::CouponKind::percent, 10, 0, 0, 500);
    pipeline(
        c, opt.buyers,
        [&](std::uint64_t i) {
          return std::pair{
              Domain::coupon,
              ipc::make_message(ipc::MessageType::issue_coupon, Domain::port, Domain::coupon,
                                ipc::IssueCouponBody{t.id, cat.users[i]})};
        },
        &cat.coupons);
  }
}

// Picks what each attempt orders (single-threaded: one driver thread asks).
class OrderMix {
 public:
  OrderMix(const BenchOptions& opt, const Catalog& cat)
      : opt_(opt),
        cat_(cat),
        flash_(opt.scenario == "flash-sale"),
        rng_(opt.seed),
        zipf_(flash_ ? 1 : cat.products.size(), opt.zipf > 0 ? opt.zipf : 1.0),
        coupon_used_(cat.users.size(), 0) {}

  engine::PlaceRequest next() {
    const std::uint64_t buyer = rng_() % cat_.users.size();
    engine::PlaceRequest req;
    req.user_id = cat_.users[buyer];
    const std::uint64_t skus = cat_.products.size();
    const std::uint64_t sku = flash_ ? 0 : (opt_.zipf > 0 ? zipf_(rng_) : rng_() % skus);
    req.item_count = 1;
    req.items[0] = ipc::LineItem{static_cast<std::uint32_t>(cat_.products[sku]), 1, 0};
    const double roll = std::uniform_real_distribution<double>(0, 1)(rng_);
    if (!cat_.coupons.empty() && roll < opt_.coupon_share + opt_.bad_coupon_share &&
        !coupon_used_[buyer]) {
      const bool bad = roll < opt_.bad_coupon_share;
      req.coupon_id = bad ? cat_.coupons[(buyer + 1) % cat_.coupons.size()]
                          : cat_.coupons[buyer];  // someone else's
      if (!bad) coupon_used_[buyer] = 1;
    }
    if (opt_.points_share > 0 &&
        std::uniform_real_distribution<double>(0, 1)(rng_) < opt_.points_share)
      req.points = 100;
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
void sale_over_client(const BenchOptions& opt, const RunPlan& plan, engine::Client& c,
                      OrderMix& mix, Outcomes& out, RunFigures& fig, double& send_seconds) {
  std::atomic<std::uint64_t> in_flight{0};
  std::atomic_flag admission_lock =
      ATOMIC_FLAG_INIT;  // the port's reply thread and this one both record
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
      const timespec at{static_cast<time_t>(intended / 1'000'000'000),
                        static_cast<long>(intended % 1'000'000'000)};
      while (mono_now_ns() < intended &&
             ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) == EINTR) {
      }
    }
    // A full window blocks the driver (futex) instead of spinning.
    for (std::uint64_t seen = in_flight.load(std::memory_order_acquire); seen >= opt.window;
         seen = in_flight.load(std::memory_order_acquire))
      in_flight.wait(seen, std::memory_order_acquire);
    const engine::PlaceRequest req = mix.next();
    in_flight.fetch_add(1, std::memory_order_acq_rel);
    out.attempts.fetch_add(1, std::memory_order_relaxed);
    const engine::PlaceNow now =
        c.port().place_order(req, [&, intended](const engine::PortReply& r) {
          if (r.timed_out) {
            out.lost.fetch_add(1);
          } else {
            const auto b = ipc::body_as<ipc::PlaceOrderReplyBody>(r.message);
            if (b.result == static_cast<std::uint8_t>(ipc::PlaceResult::accepted))
              out.accepted.fetch_add(1);
            else
              out.rejected.fetch_add(1);
          }
          record_admission(intended);
          if (in_flight.fetch_sub(1, std::memory_order_acq_rel) == opt.window)
            in_flight.notify_one();
        });
    if (now.status != engine::PlaceStatus::submitted) {
      in_flight.fetch_sub(1, std::memory_order_acq_rel);
      record_admission(intended);
      switch (now.status) {
        case engine::PlaceStatus::sold_out:
          out.note_sold_out(mono_now_ns());
          break;
        case engine::PlaceStatus::not_on_sale:
          out.not_on_sale.fetch_add(1);
          break;
        case engine::PlaceStatus::overloaded:
          out.overloaded.fetch_add(1);
          break;
        case engine::PlaceStatus::unavailable:
          out.unavailable.fetch_add(1);
          break;
        default:
          out.rejected.fetch_add(1);
          break;
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
bool sale_over_http(const BenchOptions& opt, const RunPlan& plan, std::uint16_t port, OrderMix& mix,
                    Outcomes& out, RunFigures& fig, double& send_seconds, std::string* error) {
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
    bytes = format_request("POST", "/orders", host, body,
                           {{"Idempotency-Key", fmt::format("bench-{}-{}", opt.seed, i)}});
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
    if (a.status == 202)
      out.accepted.fetch_add(1, std::memory_order_relaxed);
    else if (a.status == 409 && code == "sold_out")
      out.note_sold_out(a.answered_ns);
    else if (a.status == 409 && code == "not_on_sale")
      out.not_on_sale.fetch_add(1, std::memory_order_relaxed);
    else if (a.status == 503 && code == "overloaded")
      out.overloaded.fetch_add(1, std::memory_order_relaxed);
    else if (a.status == 503)
      out.unavailable.fetch_add(1, std::memory_order_relaxed);
    else if (a.status == 0)
      out.lost.fetch_add(1, std::memory_order_relaxed);
    else
      out.rejected.fetch_add(1, std::memory_order_relaxed);
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
      procs.push_back(
          {std::string(ipc::domain_name(static_cast<Domain>(d))),
           static_cast<pid_t>(c.deployment().status(static_cast<Domain>(d)).pid.load())});
    if (opt.driver == "http")
      procs.push_back({"gateway", static_cast<pid_t>(c.deployment().port(0).owner_pid.load())});
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
    for (std::uint8_t d = 1; d <= domain_count; ++d)
      n += c.deployment().status(static_cast<Domain>(d)).commits.load();
    return n;
  }
  // CPU, disk writes and commits since the meter was made.
  void read(const BenchOptions& opt, engine::Client& c, RunFigures& fig) const {
    fig.driver_cpu_s = cpu_seconds(::getpid()) - self_before;
    fig.cpu_s = fig.driver_cpu_s;
    fig.cpu_by_process.push_back(
        {opt.driver == "http" ? "driver (http load)" : "driver (+ its port)", fig.driver_cpu_s});
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
void monitor_sale(const BenchOptions& opt, engine::Client& c, const Catalog& cat,
                  const Outcomes& out, const std::atomic<bool>& monitoring,
                  std::vector<std::uint64_t>& depth_peak) {
  const int edges = c.deployment().edge_count();
  const bool flash = opt.scenario == "flash-sale";
  const std::int64_t started = mono_now_ns();
  std::int64_t next_progress = started + progress_interval_ns;
  std::uint64_t last_attempts = 0, last_accepted = 0;
  while (monitoring.load()) {
    for (int e = 0; e < edges; ++e)
      depth_peak[e] = std::max(
          depth_peak[e],
          c.deployment().ring(c.deployment().edge_from(e), c.deployment().edge_to(e)).depth());
    if (!opt.quiet && mono_now_ns() > next_progress) {
      next_progress += progress_interval_ns;
      const std::uint64_t a = out.attempts.load(), acc = out.accepted.load();
      fmt::print(
          "  {:>5.0f} s {:>9} attempts ({:>7}/s)  admitted {:>8} ({:>6}/s)  sold out {:>9}  errors {:>5}{}\n",
          static_cast<double>(mono_now_ns() - started) / 1e9, a, a - last_attempts, acc,
          acc - last_accepted, out.sold_out.load(),
          out.lost.load() + out.overloaded.load() + out.unavailable.load(),
          flash ? fmt::format("  stock left {}",
                              c.available(static_cast<std::uint32_t>(cat.products[0])))
                : "");
      std::fflush(stdout);
      last_attempts = a;
      last_accepted = acc;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// The door's outcomes, the order journal's facts and the ring peaks into fig.
void read_outcomes(engine::Client& c, const engine::Config& config, const Outcomes& out,
                   const Meter& meter, const std::vector<std::uint64_t>& depth_peak,
                   RunFigures& fig) {
  fig.attempts = out.attempts.load();
  fig.accepted = out.accepted.load();
  fig.sold_out = out.sold_out.load();
  if (fig.sold_out > 1)
    fig.sold_out_s =
        static_cast<double>(out.last_sold_out_ns.load() - out.first_sold_out_ns.load()) / 1e9;
  std::size_t buckets = timeline_buckets_max;
  while (buckets > 0 && out.sold_out_buckets[buckets - 1].load() == 0) --buckets;
  for (std::size_t b = 0; b < buckets; ++b)
    fig.sold_out_timeline.push_back(out.sold_out_buckets[b].load());
  fig.not_on_sale = out.not_on_sale.load();
  fig.unavailable = out.unavailable.load();
  fig.overloaded = out.overloaded.load();
  fig.rejected = out.rejected.load();
  fig.lost = out.lost.load();
  wait_staged(config);
  read_order_journal(config, fig.facts);
  const std::uint64_t bytes_after = journal_used_bytes(config);
  fig.journal_bytes = bytes_after > meter.bytes_before ? bytes_after - meter.bytes_before : 0;
  fig.saga_s =
      fig.facts.last_terminal_ns > fig.facts.first_pending_ns
          ? static_cast<double>(fig.facts.last_terminal_ns - fig.facts.first_pending_ns) / 1e9
          : 0;
  std::vector<std::pair<std::uint64_t, int>> peaks;
  for (int e = 0; e < static_cast<int>(depth_peak.size()); ++e) {
    const ipc::Node to = c.deployment().edge_to(e);
    const std::string consumer =
        to.domain == Domain::port ? "ports" : std::string(ipc::domain_name(to.domain));
    fig.depth_peak_by_domain[consumer] =
        std::max(fig.depth_peak_by_domain[consumer], depth_peak[e]);
    peaks.push_back({depth_peak[e], e});
  }
  std::sort(peaks.rbegin(), peaks.rend());
  for (std::size_t i = 0; i < top_edges_count && i < peaks.size(); ++i)
    fig.top_edges += fmt::format(
        "{}{}->{} {}", i ? ", " : "", node_name(c.deployment().edge_from(peaks[i].second)),
        node_name(c.deployment().edge_to(peaks[i].second)), peaks[i].first);
}

// check --require-terminal on the live deployment once it is at rest: every saga ended, every
// compensation applied, every view caught up with its journal.
void check_run(const BenchOptions& opt, engine::Client& c, const engine::Config& config, bool sold,
               RunFigures& fig) {
  const bool settled = settle(c.deployment());
  tools::CheckOptions check_options;
  check_options.data_dir = config.data_dir;
  check_options.require_terminal = true;
  tools::CheckReport check;
  if (opt.check) check = tools::run_check(check_options);
  fig.clean = sold && check.error.empty() && check.violations.empty();
  fig.violations = check.violations.size();
  if (!check.error.empty())
    fig.check_text = check.error;
  else if (!check.violations.empty())
    fig.check_text = fmt::format("{} VIOLATIONS", check.violations.size());
  else
    fig.check_text = opt.check ? "clean (0 violations)" : "skipped (--no-check)";
  if (!sold) fig.check_text += " (driver failed: " + fig.error + ")";
  if (!settled) fig.check_text += " (the deployment had not settled: messages still on their way)";
  if (!check.violations.empty() || !check.error.empty()) tools::print_check(check, std::cout);
}

}  // namespace

bool run_once(const BenchOptions& opt, const RunPlan& plan, RunFigures& fig) {
  fig.plan = plan;
  if (!opt.quiet)
    fmt::print("\n--- run: {} ({} loop{}, {} attempts, driver {}) ---\n", plan.label,
               plan.rate > 0 ? "open" : "closed",
               plan.rate > 0 ? fmt::format(" at {:.0f}/s", plan.rate) : std::string(), plan.orders,
               opt.driver);
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
  if (!opt.quiet)
    fmt::print("loaded {} SKUs and {} buyers in {:.2f} s\n", cat.products.size(), cat.users.size(),
               fig.load_s);
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

}  // namespace flashsaga::bench
