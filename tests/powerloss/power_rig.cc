#include "tests/powerloss/power_rig.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "ipc/segment.h"

#ifndef FLASHSAGA_EXE
#error "FLASHSAGA_EXE must name the flashsaga binary"
#endif

namespace flashsaga::testing {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t process_exit_timeout_ns = 5'000'000'000;
constexpr std::int64_t graceful_stop_timeout_ns = 20'000'000'000;
constexpr std::int64_t cli_timeout_ns = 120'000'000'000;
constexpr auto straggler_replies_wait = std::chrono::milliseconds(100);
constexpr std::uint64_t load_attempts_max = 50'000'000;  // a bound far beyond any cut's load

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::vector<std::string> cmdline_of(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/cmdline");
  std::string all((std::istreambuf_iterator<char>(in)), {});
  std::vector<std::string> args;
  std::string arg;
  for (char ch : all) {
    if (ch == '\0') {
      args.push_back(arg);
      arg.clear();
    } else {
      arg += ch;
    }
  }
  return args;
}

// Alive and not a zombie (a zombie holds no file open).
bool process_running(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  const auto close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size()) return false;
  return text[close + 2] != 'Z' && text[close + 2] != 'X';
}

// Every process (not this one) with `marker` as one of its arguments.
std::vector<pid_t> processes_with_arg(const std::string& marker) {
  std::vector<pid_t> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(name));
    if (pid == ::getpid()) continue;
    for (const std::string& a : cmdline_of(name))
      if (a == marker) {
        out.push_back(pid);
        break;
      }
  }
  return out;
}

std::string section(const std::string& extra, const std::string& name, const std::string& body) {
  return extra.find("[" + name + "]") != std::string::npos ? "" : "[" + name + "]\n" + body;
}

}  // namespace

struct PowerRig::World {
  std::vector<std::uint64_t> users;
  std::vector<std::uint64_t> coupons;  // coupons[i] belongs to users[i] (0: none)
  std::vector<std::uint32_t> products;
};

// One cut's load; shared with the port's callbacks, which may run until the client is dropped.
struct PowerRig::Load {
  std::mutex mutex;
  std::vector<Ack> acks;
  LoadCounts counts;
  std::atomic<std::uint32_t> in_flight{0};
  std::atomic<bool> stop{false};
};

std::string PowerRig::unavailable_reason() {
  return lossyfs::LossyMount::unavailable_reason();
}

PowerRig::PowerRig(RigOptions options)
    : options_(std::move(options)), world_(std::make_unique<World>()) {
  char tmpl[] = "/tmp/flashsaga-power-XXXXXX";
  dir_ = ::mkdtemp(tmpl);
  backing_ = dir_ / "backing";
  mnt_ = dir_ / "mnt";
  data_dir_ = mnt_ / "data";
  config_path_ = dir_ / "flashsaga.toml";
  log_path_ = dir_ / "supervisor.log";
  fs::create_directories(backing_);
  write_config();
}

PowerRig::~PowerRig() {
  stop();
  mount_.reset();
  std::error_code ec;
  if (std::getenv("FLASHSAGA_KEEP_TEST_DATA") == nullptr)
    fs::remove_all(dir_, ec);
  else
    std::fprintf(stderr, "PowerRig: kept %s\n", dir_.c_str());
}

void PowerRig::write_config() {
  const std::string& x = options_.extra_toml;
  std::ofstream(config_path_)
      << "[deployment]\ndata_dir = \"" << data_dir_.string() << "\"\ndurability = \""
      << options_.durability << "\"\n"
      << options_.deployment_keys
      << section(x, "rings", "saga_capacity_slots = 4096\nport_capacity_slots = 1024\nports = 4\n")
      << section(x, "stock", "products_max = 4096\n")
      << section(x, "journal", "map_size_mib = 64\nspace_reserve_mib = 4\n")
      << section(x, "supervisor", "restart_backoff_ms = 50\n") << x;
}

bool PowerRig::mount_disk(std::string* error, int fsync_delay_ms) {
  lossyfs::MountOptions m;
  m.backing = backing_;
  m.mountpoint = mnt_;
  m.fsync_delay_ms = fsync_delay_ms;
  m.log = dir_ / "lossyfs.log";
  if (!lossyfs::LossyMount::mount(m, mount_, error)) return false;
  std::error_code ec;
  fs::create_directories(data_dir_, ec);
  return true;
}

bool PowerRig::start(std::string* error) {
  std::string why;
  if (!engine::load_config(config_path_, config_, &why)) {
    *error = "bad rig config: " + why;
    return false;
  }
  if (!mount_disk(error, 0)) return false;
  if (!start_deployment(error) || !build_world(error)) return false;
  return options_.fsync_delay_ms == 0 || mount_->set_fsync_delay(options_.fsync_delay_ms, error);
}

bool PowerRig::start_deployment(std::string* error) {
  std::error_code ec;
  log_offset_ = fs::exists(log_path_) ? fs::file_size(log_path_, ec) : 0;
  supervisor_exit_ = -1;
  supervisor_ = ::fork();
  if (supervisor_ == 0) {
    ::setpgid(0, 0);  // one process group: the cut kills it at once
    const int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log >= 0) {
      ::dup2(log, STDOUT_FILENO);
      ::dup2(log, STDERR_FILENO);
    }
    ::execl(FLASHSAGA_EXE, FLASHSAGA_EXE, "run", "--no-gateway", "--config", config_path_.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  engine::PortOptions port;
  port.request_timeout_ns = options_.request_timeout_ms * 1'000'000;
  if (options_.port_queue_capacity > 0) port.queue_capacity = options_.port_queue_capacity;
  const std::int64_t deadline = now_ns() + options_.ready_timeout_ms * 1'000'000;
  std::string why;
  while (now_ns() < deadline) {
    if (!supervisor_alive()) {
      *error = "the supervisor exited: " + supervisor_log_since_start();
      return false;
    }
    if (!client_) (void)engine::Client::connect(config_, client_, &why, port);
    if (client_) {
      auto& d = client_->deployment();
      bool ready = d.control().intake_open.load() == 1;
      for (std::uint8_t i = 1; ready && i <= domain_count; ++i)
        ready = d.status(static_cast<ipc::Domain>(i)).state.load() ==
                static_cast<std::uint32_t>(ipc::DomainState::ready);
      if (ready) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  *error = "not ready after " + std::to_string(options_.ready_timeout_ms) + " ms" +
           (why.empty() ? "" : " (" + why + ")");
  return false;
}

bool PowerRig::build_world(std::string* error) {
  engine::Client& c = *client_;
  std::mt19937_64 rng(options_.seed);
  const auto tpl = c.create_coupon_template(ipc::CouponKind::percent, 10, 0, 0, 2'000);
  if (!tpl.ok()) {
    *error = "cannot create a coupon template";
    return false;
  }
  for (std::size_t i = 0; i < options_.users; ++i) {
    const auto u = c.create_user("buyer", "buyer" + std::to_string(i) + "@power.example");
    // Wallets and points that last for thousands of cuts: orders fail for stock or coupons.
    if (!u.ok() || !c.deposit(u.id, 1'000'000'000'000).ok() ||
        !c.accrue_points(u.id, 1'000'000'000, "rig").ok()) {
      *error = "cannot create buyer " + std::to_string(i);
      return false;
    }
    world_->users.push_back(u.id);
    world_->coupons.push_back(i % 2 == 0 ? c.issue_coupon(tpl.id, u.id).id : 0);
  }
  for (std::size_t i = 0; i < options_.products; ++i) {
    const std::int64_t stock = i == 0 ? 200 : 1'000'000'000;
    const auto p = c.create_product("sku", 500 + static_cast<std::int64_t>(rng() % 5'000), stock);
    if (!p.ok()) {
      *error = "cannot create product " + std::to_string(i);
      return false;
    }
    world_->products.push_back(static_cast<std::uint32_t>(p.id));
  }
  return true;
}

namespace {

// One order of the mix: one or two lines, a coupon on a fifth of them, points on a quarter.
engine::PlaceRequest next_order(std::mt19937_64& rng, const std::vector<std::uint64_t>& users,
                                const std::vector<std::uint64_t>& coupons,
                                const std::vector<std::uint32_t>& products) {
  engine::PlaceRequest req;
  const std::size_t u = rng() % users.size();
  req.user_id = users[u];
  req.item_count = 1 + static_cast<std::uint32_t>(rng() % 2);
  for (std::uint32_t k = 0; k < req.item_count; ++k)
    req.items[k] = ipc::LineItem{products[(rng() % 8 == 0) ? 0 : 1 + rng() % (products.size() - 1)],
                                 1 + static_cast<std::uint32_t>(rng() % 2), 0};
  if (rng() % 5 == 0) req.coupon_id = coupons[u];
  if (rng() % 4 == 0) req.points = 300;
  return req;
}

}  // namespace

std::thread PowerRig::start_load(std::shared_ptr<Load> load, std::uint64_t cut_seed,
                                 std::int64_t start) {
  return std::thread([this, load, cut_seed, start] {
    std::mt19937_64 lrng(cut_seed ^ 0x5DEECE66Dull);
    for (std::uint64_t i = 0; i < load_attempts_max && !load->stop.load(); ++i) {
      if (options_.rate > 0) {
        const auto due =
            start + static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / options_.rate);
        if (due > now_ns()) std::this_thread::sleep_for(std::chrono::nanoseconds(due - now_ns()));
      }
      while (load->in_flight.load() >= options_.window && !load->stop.load())
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      if (load->stop.load()) break;
      engine::PlaceRequest req = next_order(lrng, world_->users, world_->coupons, world_->products);
      req.idempotency_key = cut_seed * 1'000'003 + i + 1;
      load->in_flight.fetch_add(1);
      const auto now = client_->port().place_order(req, [load](const engine::PortReply& reply) {
        std::lock_guard<std::mutex> lock(load->mutex);
        const auto result = static_cast<ipc::PlaceResult>(
            ipc::body_as<ipc::PlaceOrderReplyBody>(reply.message).result);
        if (reply.timed_out)
          ++load->counts.timed_out;
        else if (result == ipc::PlaceResult::accepted || result == ipc::PlaceResult::duplicate)
          load->acks.push_back(Ack{reply.message.header.order_id, now_ns()});
        else
          ++load->counts.refused;
        load->in_flight.fetch_sub(1);
      });
      std::lock_guard<std::mutex> lock(load->mutex);
      ++load->counts.attempts;
      if (now.status == engine::PlaceStatus::submitted) continue;
      load->in_flight.fetch_sub(1);
      if (now.status == engine::PlaceStatus::sold_out)
        ++load->counts.sold_out;
      else if (now.status == engine::PlaceStatus::overloaded)
        ++load->counts.overloaded;
      else
        ++load->counts.unavailable;
    }
  });
}

LoadRecord PowerRig::load_for(std::int64_t duration_ms, std::uint64_t seed) {
  LoadRecord r;
  if (!client_) return r;
  auto load = std::make_shared<Load>();
  r.load_start_ns = now_ns();
  std::thread loader = start_load(load, seed, r.load_start_ns);
  std::this_thread::sleep_for(std::chrono::milliseconds(duration_ms));
  load->stop.store(true);
  loader.join();
  r.load_end_ns = now_ns();
  const std::int64_t deadline = now_ns() + (options_.request_timeout_ms + 2'000) * 1'000'000;
  while (load->in_flight.load() != 0 && now_ns() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  r.settled_ns = now_ns();
  std::lock_guard<std::mutex> lock(load->mutex);
  r.left_in_flight = load->in_flight.load();
  r.acks = load->acks;
  r.load = load->counts;
  r.load.acknowledged = r.acks.size();
  return r;
}

CutRecord PowerRig::cut_under_load(std::uint64_t cut_seed, double keep_fraction) {
  CutRecord r;
  r.index = ++cuts_;
  r.seed = cut_seed;
  r.keep_fraction = keep_fraction < 0 ? options_.keep_fraction : keep_fraction;
  if (!client_ || !mount_) {
    r.restart_error = "no running deployment to cut";
    return r;
  }
  std::mt19937_64 rng(cut_seed);
  const std::int64_t span =
      std::max<std::int64_t>(1, options_.cut_after_max_ms - options_.cut_after_min_ms);
  const std::int64_t cut_after_ns =
      (options_.cut_after_min_ms +
       static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(span))) *
      1'000'000;
  auto load = std::make_shared<Load>();
  r.load_start_ns = now_ns();
  std::thread loader = start_load(load, cut_seed, r.load_start_ns);
  const std::int64_t cut_at = r.load_start_ns + cut_after_ns;
  if (cut_at > now_ns()) std::this_thread::sleep_for(std::chrono::nanoseconds(cut_at - now_ns()));
  r.unsynced_pages_at_cut = mount_->stat("unsynced_pages");
  r.cut_ns = now_ns();
  kill_everything();
  load->stop.store(true);
  loader.join();
  std::this_thread::sleep_for(straggler_replies_wait);  // replies already in a ring still count
  client_.reset();                                      // answers the rest `timed_out`
  {
    std::lock_guard<std::mutex> lock(load->mutex);
    r.acks = load->acks;
    r.load = load->counts;
    r.load.acknowledged = r.acks.size();
  }
  std::string error;
  r.disk =
      mount_->cut(r.keep_fraction, cut_seed ^ 0x9E3779B97F4A7C15ull, &error, options_.keep_aged_ms);
  mount_.reset();  // kill_everything() removed the segment: shared memory is RAM
  const std::int64_t restart_start = now_ns();
  if (!r.disk.ok)
    r.restart_error = "the cut failed: " + error;
  else if (!mount_disk(&error, options_.fsync_delay_ms))
    r.restart_error = "remount failed: " + error;
  else if (!start_deployment(&error))
    r.restart_error = error;
  else
    r.restarted = true;
  r.recovery_ns = now_ns() - restart_start;
  if (r.restarted) r.unsynced_pages_at_ready = mount_->stat("unsynced_pages");
  r.total_ns = now_ns() - r.load_start_ns;
  return r;
}

void PowerRig::kill_everything() {
  std::vector<pid_t> pids = processes_with_arg(config_path_.string());
  for (pid_t p : processes_with_arg(data_dir_.string())) pids.push_back(p);
  if (supervisor_ > 0) ::kill(-supervisor_, SIGKILL);  // the whole group at once
  for (pid_t p : pids) ::kill(p, SIGKILL);
  if (supervisor_ > 0) {
    int status = 0;
    ::waitpid(supervisor_, &status, 0);
    supervisor_ = 0;
  }
  const std::int64_t deadline = now_ns() + process_exit_timeout_ns;
  for (pid_t p : pids)
    while (process_running(p) && now_ns() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ipc::Segment::remove(data_dir_);  // its creator is dead: nobody else will
}

bool PowerRig::supervisor_alive() {
  if (supervisor_ <= 0) return false;
  int status = 0;
  if (::waitpid(supervisor_, &status, WNOHANG) == supervisor_) {
    supervisor_ = 0;
    supervisor_exit_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return false;
  }
  return true;
}

void PowerRig::stop() {
  client_.reset();
  if (supervisor_ > 0) {
    ::kill(supervisor_, SIGTERM);
    const std::int64_t deadline = now_ns() + graceful_stop_timeout_ns;
    while (supervisor_alive() && now_ns() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill_everything();  // whatever is left (nothing, after a graceful stop)
}

std::vector<std::uint64_t> PowerRig::missing_orders(const std::vector<Ack>& acks) {
  std::vector<std::uint64_t> out;
  for (const Ack& a : acks)
    if (!client_ || !client_->order(a.order_id).has_value()) out.push_back(a.order_id);
  return out;
}

std::vector<std::uint64_t> PowerRig::not_terminal(const std::vector<Ack>& acks,
                                                  std::int64_t timeout_ms) {
  std::vector<std::uint64_t> out;
  const std::int64_t deadline = now_ns() + timeout_ms * 1'000'000;
  for (const Ack& a : acks) {
    const std::int64_t left_ms = std::max<std::int64_t>(1, (deadline - now_ns()) / 1'000'000);
    if (!client_ || !client_->wait_terminal(a.order_id, left_ms)) out.push_back(a.order_id);
  }
  return out;
}

CliResult PowerRig::check_when_settled(int attempts) {
  CliResult r;
  for (int i = 0; i < attempts; ++i) {
    r = flashsaga({"check", "--require-terminal"});
    r.attempts = i + 1;
    if (r.status == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return r;
}

CliResult PowerRig::journal_verify() {
  return flashsaga({"journal", "verify"});
}

CliResult PowerRig::flashsaga(const std::vector<std::string>& args) {
  CliResult r;
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return r;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(out[1], STDERR_FILENO);
    std::vector<std::string> all = {FLASHSAGA_EXE};
    all.insert(all.end(), args.begin(), args.end());
    all.push_back("--data");
    all.push_back(data_dir_.string());
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  const std::int64_t deadline = now_ns() + cli_timeout_ns;
  char buf[4096];
  while (now_ns() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    r.output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  if (now_ns() >= deadline) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string PowerRig::supervisor_log_since_start() const {
  std::ifstream in(log_path_);
  in.seekg(static_cast<std::streamoff>(log_offset_));
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace flashsaga::testing
