#include "bench/harness.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "bench/histogram.h"
#include "domains/rows.h"
#include "domains/runtime.h"
#include "engine/client.h"
#include "engine/supervisor.h"
#include "engine/clock.h"
#include "tools/check.h"

namespace flashsaga::bench {
namespace {

using ipc::Domain;

constexpr std::uint32_t seed_window = 2048;             // commands in flight while loading
constexpr std::int64_t drain_timeout_ns = 300'000'000'000;
constexpr std::int64_t progress_interval_ns = 1'000'000'000;

struct Stopwatch {
  std::int64_t start = mono_now_ns();
  double seconds() const { return static_cast<double>(mono_now_ns() - start) / 1e9; }
};

// CPU seconds (user + system) of one process, from /proc.
double cpu_seconds(pid_t pid) {
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
      rejected{0}, timed_out{0};
};

struct JournalFacts {
  LatencyHistogram latency;  // PENDING -> terminal
  std::uint64_t completed = 0, cancelled = 0;
  std::map<std::string, std::uint64_t> cancel_reasons;
  std::int64_t first_pending_ns = 0, last_terminal_ns = 0;
  std::vector<std::pair<std::int64_t, std::int64_t>> terminal_times;  // (terminal wall ns, latency ns)
};

// Reads the order journal: when each order was journaled PENDING and when it ended.
JournalFacts read_order_journal(const engine::Config& config) {
  JournalFacts facts;
  journal::Options o = config.journal_options(Domain::order);
  o.read_only = true;
  o.create = false;
  o.tables = domains::all_tables(Domain::order);
  std::unique_ptr<journal::Env> env;
  if (!journal::Env::open(o, env).ok()) return facts;
  journal::ReadTxn txn;
  if (!env->begin_read(txn).ok()) return facts;
  std::vector<std::int64_t> pending_at;
  (void)txn.records(1, SIZE_MAX, [&](const journal::RecordView& r) {
    const auto type = static_cast<domains::RecordType>(r.header.type);
    const std::uint64_t id = r.header.order_id;
    if (type == domains::RecordType::order_pending) {
      if (pending_at.size() <= id) pending_at.resize(id + 1 + id / 2, 0);
      pending_at[id] = r.header.time_ns;
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
  return facts;
}


std::string ms(std::uint64_t ns) { return fmt::format("{:.3f} ms", static_cast<double>(ns) / 1e6); }

}  // namespace

int run_bench(const BenchOptions& opt) {
  char tmpl[] = "/tmp/flashsaga-bench-XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(tmpl);
  const std::filesystem::path config_path = dir / "bench.toml";
  {
    std::ofstream cfg(config_path);
    cfg << "[deployment]\ndata_dir = \"" << (dir / "data").string() << "\"\ndurability = \"" << opt.durability
        << "\"\n[rings]\nsaga_capacity_slots = 16384\nport_capacity_slots = 4096\nports = 4\n"
        << "[stock]\nproducts_max = " << std::max<std::uint64_t>(opt.skus + 16, 4096) << "\n"
        << "[journal]\nmap_size_mib = 1024\n[saga]\nstep_timeout_ms = 60000\n";
    if (opt.pg_decline_permille > 0)
      cfg << "[payment]\nadapter = \"pg\"\npg_decline_permille = " << opt.pg_decline_permille << "\n";
  }
  engine::Config config;
  std::string error;
  if (!engine::load_config(config_path, config, &error)) {
    fmt::print(stderr, "bench: {}\n", error);
    return 1;
  }
  const pid_t supervisor = ::fork();
  if (supervisor == 0) {
    const std::string exe = opt.executable.string(), cfg = config_path.string();
    ::execl(exe.c_str(), exe.c_str(), "run", "--no-gateway", "--config", cfg.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto stop_deployment = [&] {
    ::kill(supervisor, SIGTERM);
    int status = 0;
    ::waitpid(supervisor, &status, 0);
    if (!opt.keep_data) std::filesystem::remove_all(dir);
  };
  std::unique_ptr<engine::Client> client;
  const std::int64_t connect_deadline = mono_now_ns() + 30'000'000'000;
  while (mono_now_ns() < connect_deadline) {
    if (!client) (void)engine::Client::connect(config, client, &error);
    if (client && client->deployment().control().intake_open.load() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!client || client->deployment().control().intake_open.load() != 1) {
    fmt::print(stderr, "bench: the deployment did not become ready: {}\n", error);
    stop_deployment();
    return 1;
  }
  engine::Client& c = *client;

  // --- Load the catalog and the buyers ------------------------------------------------------
  Stopwatch load;
  const bool flash = opt.scenario == "flash-sale";
  const std::uint64_t skus = flash ? 1 : opt.skus;
  std::vector<std::uint64_t> products, users, coupons;
  pipeline(c, skus, [&](std::uint64_t i) {
    ipc::CreateProductBody b{};
    b.price = 1'000 + static_cast<std::int64_t>(i % 100) * 10;
    b.stock = static_cast<std::int64_t>(opt.stock);
    (void)b.name.assign(fmt::format("sku-{}", i));
    return std::pair{Domain::product, ipc::make_message(ipc::MessageType::create_product, Domain::port, Domain::product, b)};
  }, &products);
  pipeline(c, opt.buyers, [&](std::uint64_t i) {
    ipc::CreateUserBody b{};
    (void)b.name.assign(fmt::format("buyer {}", i));
    (void)b.email.assign(fmt::format("buyer{}@bench.example", i));
    return std::pair{Domain::user, ipc::make_message(ipc::MessageType::create_user, Domain::port, Domain::user, b)};
  }, &users);
  const auto poor_cut = static_cast<std::uint64_t>(opt.poor_share * static_cast<double>(opt.buyers));
  pipeline(c, opt.buyers, [&](std::uint64_t i) {
    const std::int64_t amount = i < poor_cut ? 1 : 1'000'000'000;
    return std::pair{Domain::payment, ipc::make_message(ipc::MessageType::deposit, Domain::port, Domain::payment,
                                                         ipc::DepositBody{users[i], amount})};
  }, nullptr);
  if (opt.points_share > 0)
    pipeline(c, opt.buyers, [&](std::uint64_t i) {
      ipc::AccruePointsBody b{};
      b.user_id = users[i];
      b.amount = 10'000;
      return std::pair{Domain::point, ipc::make_message(ipc::MessageType::accrue_points, Domain::port, Domain::point, b)};
    }, nullptr);
  if (opt.coupon_share > 0 || opt.bad_coupon_share > 0) {
    auto t = c.create_coupon_template(ipc::CouponKind::percent, 10, 0, 0, 500);
    pipeline(c, opt.buyers, [&](std::uint64_t i) {
      return std::pair{Domain::coupon, ipc::make_message(ipc::MessageType::issue_coupon, Domain::port, Domain::coupon,
                                                          ipc::IssueCouponBody{t.id, users[i]})};
    }, &coupons);
  }
  if (!opt.quiet)
    fmt::print("loaded {} SKUs and {} buyers in {:.2f} s\n", products.size(), users.size(), load.seconds());

  // --- The sale -------------------------------------------------------------------------------
  std::vector<pid_t> pids = {supervisor};
  for (std::uint8_t d = 1; d <= domain_count; ++d)
    pids.push_back(static_cast<pid_t>(c.deployment().status(static_cast<Domain>(d)).pid.load()));
  auto total_cpu = [&] {
    double s = 0;
    for (pid_t p : pids) s += cpu_seconds(p);
    return s;
  };
  std::uint64_t commits_before = 0;
  for (std::uint8_t d = 1; d <= domain_count; ++d) commits_before += c.deployment().status(static_cast<Domain>(d)).commits.load();
  std::vector<double> cpu_each_before;
  for (pid_t p : pids) cpu_each_before.push_back(cpu_seconds(p));
  const double self_before = cpu_seconds(::getpid());
  const double cpu_before = total_cpu();

  Outcomes out;
  LatencyHistogram admission;  // open loop: intended send time -> answer (client side)
  std::atomic<std::uint64_t> in_flight{0};
  std::vector<std::uint8_t> coupon_used(users.size(), 0);
  std::mt19937_64 rng(opt.seed);
  const Zipf zipf(skus, opt.zipf > 0 ? opt.zipf : 1.0);
  std::atomic<bool> monitoring{true};
  std::vector<std::uint64_t> depth_peak(static_cast<std::size_t>(c.deployment().edge_count()), 0);
  std::thread monitor([&] {
    std::int64_t next_progress = mono_now_ns() + progress_interval_ns;
    std::uint64_t last_attempts = 0;
    while (monitoring.load()) {
      for (int e = 0; e < c.deployment().edge_count(); ++e)
        depth_peak[e] = std::max(depth_peak[e], c.deployment().ring(c.deployment().edge_from(e), c.deployment().edge_to(e)).depth());
      if (!opt.quiet && mono_now_ns() > next_progress) {
        next_progress += progress_interval_ns;
        const std::uint64_t a = out.attempts.load();
        fmt::print("  {:>9} attempts ({:>8}/s)  accepted {:>8}  sold out {:>9}  stock left {:>8}\n", a, a - last_attempts,
                   out.accepted.load(), out.sold_out.load(), c.available(static_cast<std::uint32_t>(products[0])));
        std::fflush(stdout);
        last_attempts = a;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });

  Stopwatch sale;
  const std::int64_t sale_start = mono_now_ns();
  for (std::uint64_t i = 0; i < opt.orders; ++i) {
    std::int64_t intended = 0;
    if (opt.rate > 0) {
      intended = sale_start + static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / opt.rate);
      while (mono_now_ns() < intended) std::this_thread::yield();
    }
    // A full window blocks the driver (futex) instead of spinning: on two cores a spinning
    // driver would take a core from the deployment it measures.
    for (std::uint64_t seen = in_flight.load(std::memory_order_acquire); seen >= opt.window;
         seen = in_flight.load(std::memory_order_acquire))
      in_flight.wait(seen, std::memory_order_acquire);
    const std::uint64_t buyer = rng() % users.size();
    engine::PlaceRequest req;
    req.user_id = users[buyer];
    const std::uint64_t sku = flash ? 0 : (opt.zipf > 0 ? zipf(rng) : rng() % skus);
    req.item_count = 1;
    req.items[0] = ipc::LineItem{static_cast<std::uint32_t>(products[sku]), 1, 0};
    const double roll = std::uniform_real_distribution<double>(0, 1)(rng);
    if (!coupons.empty() && roll < opt.coupon_share + opt.bad_coupon_share && !coupon_used[buyer]) {
      const bool bad = roll < opt.bad_coupon_share;
      req.coupon_id = bad ? coupons[(buyer + 1) % coupons.size()] : coupons[buyer];  // someone else's when bad
      if (!bad) coupon_used[buyer] = 1;
    }
    if (opt.points_share > 0 && std::uniform_real_distribution<double>(0, 1)(rng) < opt.points_share) req.points = 100;
    in_flight.fetch_add(1, std::memory_order_acq_rel);
    out.attempts.fetch_add(1, std::memory_order_relaxed);
    const engine::PlaceNow now = c.port().place_order(req, [&, intended](const engine::PortReply& r) {
      if (r.timed_out) {
        out.timed_out.fetch_add(1);
      } else {
        const auto b = ipc::body_as<ipc::PlaceOrderReplyBody>(r.message);
        if (b.result == static_cast<std::uint8_t>(ipc::PlaceResult::accepted)) out.accepted.fetch_add(1);
        else out.rejected.fetch_add(1);
      }
      if (intended != 0) admission.record(mono_now_ns() - intended);
      if (in_flight.fetch_sub(1, std::memory_order_acq_rel) == opt.window) in_flight.notify_one();
    });
    if (now.status != engine::PlaceStatus::submitted) {
      in_flight.fetch_sub(1, std::memory_order_acq_rel);
      if (intended != 0) admission.record(mono_now_ns() - intended);
      switch (now.status) {
        case engine::PlaceStatus::sold_out: out.sold_out.fetch_add(1, std::memory_order_relaxed); break;
        case engine::PlaceStatus::not_on_sale: out.not_on_sale.fetch_add(1); break;
        case engine::PlaceStatus::overloaded: out.overloaded.fetch_add(1); break;
        default: out.unavailable.fetch_add(1); break;
      }
    }
  }
  const double send_seconds = sale.seconds();
  while (in_flight.load() != 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
  const double admit_seconds = sale.seconds();
  const std::int64_t drain_deadline = mono_now_ns() + drain_timeout_ns;
  while (engine::count_pending_orders(config) != 0 && mono_now_ns() < drain_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const double done_seconds = sale.seconds();
  monitoring.store(false);
  monitor.join();
  const double cpu = total_cpu() - cpu_before;
  std::string cpu_split = fmt::format("driver+port {:.2f}", cpu_seconds(::getpid()) - self_before);
  for (std::size_t i = 1; i < pids.size(); ++i)
    cpu_split += fmt::format(", {} {:.2f}", ipc::domain_name(static_cast<Domain>(i)), cpu_seconds(pids[i]) - cpu_each_before[i]);
  std::uint64_t commits = 0;
  for (std::uint8_t d = 1; d <= domain_count; ++d) commits += c.deployment().status(static_cast<Domain>(d)).commits.load();
  commits -= commits_before;

  // --- Report ---------------------------------------------------------------------------------
  const JournalFacts facts = read_order_journal(config);
  std::uint64_t journal_bytes = 0;
  for (std::uint8_t d = 1; d <= domain_count; ++d) {
    journal::Options o = config.journal_options(static_cast<Domain>(d));
    o.read_only = true;
    o.create = false;
    o.tables = domains::all_tables(static_cast<Domain>(d));
    std::unique_ptr<journal::Env> env;
    if (journal::Env::open(o, env).ok()) journal_bytes += env->stats().used_bytes;
  }
  tools::CheckOptions check_options;
  check_options.data_dir = config.data_dir;
  check_options.require_terminal = true;
  const tools::CheckReport check = tools::run_check(check_options);
  const bool clean = check.error.empty() && check.violations.empty();

  const double saga_seconds =
      facts.last_terminal_ns > facts.first_pending_ns ? static_cast<double>(facts.last_terminal_ns - facts.first_pending_ns) / 1e9 : 0;
  const std::uint64_t orders_done = facts.completed + facts.cancelled;
  fmt::print("\nflashsaga bench: scenario {}, durability {}, driver {}, {} attempts, window {}{}\n", opt.scenario,
             opt.durability, opt.driver, opt.orders, opt.window,
             opt.rate > 0 ? fmt::format(", open loop at {:.0f}/s", opt.rate) : std::string());
  fmt::print("  {:<34}{:>14}\n", "attempts/s (sent)", fmt::format("{:.0f}", static_cast<double>(opt.orders) / send_seconds));
  fmt::print("  {:<34}{:>14}\n", "admitted (202)", out.accepted.load());
  fmt::print("  {:<34}{:>14}\n", "admitted/s", fmt::format("{:.0f}", static_cast<double>(out.accepted.load()) / admit_seconds));
  fmt::print("  {:<34}{:>14}\n", "sold out (answered at the door)", out.sold_out.load());
  fmt::print("  {:<34}{:>14}\n", "sold-out answers/s", fmt::format("{:.0f}", static_cast<double>(out.sold_out.load()) / send_seconds));
  fmt::print("  {:<34}{:>14}\n", "rejected/unavailable/overloaded/lost",
             fmt::format("{}/{}/{}/{}", out.rejected.load(), out.unavailable.load(), out.overloaded.load(),
                         out.timed_out.load()));
  fmt::print("  {:<34}{:>14}\n", "completed", facts.completed);
  fmt::print("  {:<34}{:>14}\n", "completed/s (first 202 -> last end)",
             fmt::format("{:.0f}", saga_seconds > 0 ? static_cast<double>(facts.completed) / saga_seconds : 0.0));
  for (const auto& [reason, n] : facts.cancel_reasons) fmt::print("  {:<34}{:>14}\n", "cancelled: " + reason, n);
  fmt::print("  saga latency (PENDING -> end, from the order journal), {} orders:\n", facts.latency.count());
  fmt::print("    p50 {}  p90 {}  p99 {}  p99.9 {}  max {}\n", ms(facts.latency.quantile(0.5)), ms(facts.latency.quantile(0.9)),
             ms(facts.latency.quantile(0.99)), ms(facts.latency.quantile(0.999)), ms(facts.latency.max()));
  if (opt.rate > 0)
    fmt::print("    admission (intended send -> answer): p50 {}  p99 {}  max {}\n", ms(admission.quantile(0.5)),
               ms(admission.quantile(0.99)), ms(admission.max()));
  fmt::print("  {:<34}{:>14}\n", "CPU seconds per 1k attempts",
             fmt::format("{:.3f}", cpu / static_cast<double>(opt.orders) * 1000));
  fmt::print("  {:<34}{:>14}\n", "CPU seconds per 1k orders (202)",
             fmt::format("{:.3f}", out.accepted.load() ? cpu / static_cast<double>(out.accepted.load()) * 1000 : 0.0));
  fmt::print("  CPU seconds by process: {}\n", cpu_split);
  fmt::print("  {:<34}{:>14}\n", "journal bytes per order",
             fmt::format("{:.0f}", orders_done ? static_cast<double>(journal_bytes) / static_cast<double>(orders_done) : 0.0));
  fmt::print("  {:<34}{:>14}\n", opt.durability == "sync" ? "commits (fsyncs) per order" : "commits per order",
             fmt::format("{:.3f}", orders_done ? static_cast<double>(commits) / static_cast<double>(orders_done) : 0.0));
  std::vector<std::pair<std::uint64_t, int>> peaks;
  for (int e = 0; e < c.deployment().edge_count(); ++e) peaks.push_back({depth_peak[e], e});
  std::sort(peaks.rbegin(), peaks.rend());
  std::string peak_text;
  for (std::size_t i = 0; i < 4 && i < peaks.size(); ++i) {
    const ipc::Node f = c.deployment().edge_from(peaks[i].second), t = c.deployment().edge_to(peaks[i].second);
    auto name = [](ipc::Node n) {
      return n.domain == Domain::port ? fmt::format("port{}", n.port) : std::string(ipc::domain_name(n.domain));
    };
    peak_text += fmt::format("{}{}->{} {}", i ? ", " : "", name(f), name(t), peaks[i].first);
  }
  fmt::print("  ring depth peaks: {}\n", peak_text);
  fmt::print("  phases: sent {:.2f} s, answered {:.2f} s, all sagas ended {:.2f} s\n", send_seconds, admit_seconds, done_seconds);
  fmt::print("  check: {}\n", clean ? "clean (0 violations)"
                                    : (check.error.empty() ? fmt::format("{} VIOLATIONS", check.violations.size()) : check.error));
  if (!clean) tools::print_check(check, std::cout);

  if (!opt.json_out.empty()) {
    std::ofstream j(opt.json_out);
    j << fmt::format(
        "{{\"scenario\":\"{}\",\"durability\":\"{}\",\"driver\":\"{}\",\"attempts\":{},\"admitted\":{},\"sold_out\":{},"
        "\"completed\":{},\"cancelled\":{},\"attempts_per_s\":{:.1f},\"admitted_per_s\":{:.1f},\"completed_per_s\":{:.1f},"
        "\"sold_out_per_s\":{:.1f},\"latency_ns\":{{\"p50\":{},\"p90\":{},\"p99\":{},\"p999\":{},\"max\":{}}},"
        "\"cpu_s_per_1k_attempts\":{:.4f},\"journal_bytes_per_order\":{:.1f},\"commits_per_order\":{:.4f},\"check_clean\":{}}}\n",
        opt.scenario, opt.durability, opt.driver, opt.orders, out.accepted.load(), out.sold_out.load(), facts.completed,
        facts.cancelled, static_cast<double>(opt.orders) / send_seconds, static_cast<double>(out.accepted.load()) / admit_seconds,
        saga_seconds > 0 ? static_cast<double>(facts.completed) / saga_seconds : 0.0,
        static_cast<double>(out.sold_out.load()) / send_seconds, facts.latency.quantile(0.5), facts.latency.quantile(0.9),
        facts.latency.quantile(0.99), facts.latency.quantile(0.999), facts.latency.max(),
        cpu / static_cast<double>(opt.orders) * 1000,
        orders_done ? static_cast<double>(journal_bytes) / static_cast<double>(orders_done) : 0.0,
        orders_done ? static_cast<double>(commits) / static_cast<double>(orders_done) : 0.0, clean ? "true" : "false");
  }
  if (!opt.csv_out.empty() || !opt.plot_dir.empty()) {
    // Completions per 100 ms and their median latency, over the sale.
    std::map<std::int64_t, std::vector<std::int64_t>> buckets;
    for (const auto& [t, l] : facts.terminal_times) buckets[(t - facts.first_pending_ns) / 100'000'000].push_back(l);
    std::ostringstream series;
    series << "t_s,completed_per_s,p50_ms,p99_ms\n";
    for (auto& [b, ls] : buckets) {
      std::sort(ls.begin(), ls.end());
      series << fmt::format("{:.1f},{},{:.3f},{:.3f}\n", static_cast<double>(b) / 10.0, ls.size() * 10,
                            static_cast<double>(ls[ls.size() / 2]) / 1e6, static_cast<double>(ls[ls.size() * 99 / 100]) / 1e6);
    }
    if (!opt.csv_out.empty()) std::ofstream(opt.csv_out) << series.str();
    if (!opt.plot_dir.empty()) {
      std::filesystem::create_directories(opt.plot_dir);
      const auto data = opt.plot_dir / "timeline.csv";
      std::ofstream(data) << series.str();
      const auto script = opt.plot_dir / "plot.gp";
      std::ofstream(script) << fmt::format(
          "set datafile separator ','\nset terminal pngcairo size 1000,600\nset output '{0}/timeline.png'\n"
          "set title 'flashsaga {1} ({2}): completions and saga latency'\nset xlabel 'seconds'\n"
          "set ylabel 'orders/s'\nset y2label 'latency ms'\nset y2tics\nset key outside bottom center horizontal\n"
          "plot '{3}' using 1:2 skip 1 with lines title 'completed/s', '' using 1:3 skip 1 axes x1y2 with lines title "
          "'p50 ms', '' using 1:4 skip 1 axes x1y2 with lines title 'p99 ms'\n",
          opt.plot_dir.string(), opt.scenario, opt.durability, data.string());
      if (std::system(("gnuplot " + script.string() + " 2>/dev/null").c_str()) == 0)
        fmt::print("  plot: {}\n", (opt.plot_dir / "timeline.png").string());
    }
  }
  client.reset();
  stop_deployment();
  return clean ? 0 : 1;
}

}  // namespace flashsaga::bench
