#include "engine/supervisor.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <vector>

#include "engine/base/clock.h"
#include "domains/journal_open.h"
#include "domains/rows.h"
#include "ipc/deployment.h"
#include "ipc/segment.h"
#include "journal/journal.h"

namespace flashsaga::engine {
namespace {

using ipc::Domain;

std::atomic<bool> stop_flag{false};

constexpr std::int64_t watch_interval_ns = 200'000'000;  // SIGCHLD and SIGTERM wake it at once
constexpr std::int64_t ready_poll_ns = 5'000'000;         // until every domain is first ready
constexpr std::int64_t child_stop_timeout_ns = 10'000'000'000;
constexpr std::int64_t ready_timeout_ns = 60'000'000'000;
constexpr std::uint32_t reaps_per_look_max = 64;  // children reaped per look (there are 7)

struct Child {
  std::string role;     // "user" ... "payment", "gateway"
  Domain domain = Domain::none;
  pid_t pid = 0;
  std::int64_t restart_at_ns = 0;  // monotonic; 0 = running or not scheduled
  std::uint32_t restarts = 0;
};

void say(const std::string& text) {
  std::fprintf(stderr, "flashsaga supervisor[%d]: %s\n", static_cast<int>(::getpid()), text.c_str());
}

pid_t spawn(const Child& child, const Config& config, const SupervisorOptions& options) {
  std::vector<std::string> args = {options.executable.string()};
  if (child.role == "gateway") {
    args.push_back("gateway");
  } else {
    args.push_back("domain");
    args.push_back(child.role);
  }
  args.push_back("--data");
  args.push_back(config.data_dir.string());
  args.push_back("--port");
  args.push_back(std::to_string(config.http_port));
  if (!options.config_path.empty()) {
    args.push_back("--config");
    args.push_back(options.config_path.string());
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  // Child: die with the supervisor; take default signal handling back.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(1);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(argv[0], argv.data());
  std::fprintf(stderr, "flashsaga supervisor: cannot start %s: %s\n", argv[0], std::strerror(errno));
  ::_exit(127);
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + ::strsignal(WTERMSIG(status));
  return "stopped";
}

bool all_ready(ipc::Deployment& d, const std::vector<Child>& children) {
  for (const Child& c : children)
    if (c.domain != Domain::none &&
        d.status(c.domain).state.load(std::memory_order_acquire) != static_cast<std::uint32_t>(ipc::DomainState::ready))
      return false;
  return d.control().intake_open.load(std::memory_order_acquire) == 1;
}

// Ports whose owner died with reservations in flight: free them and have stock reconciled.
void reap_dead_ports(ipc::Deployment& d) {
  for (std::uint32_t p = 0; p < d.geometry().ports; ++p) {
    ipc::PortSlot& slot = d.port(p);
    std::uint32_t owner = slot.owner_pid.load(std::memory_order_acquire);
    if (owner == 0 || ipc::process_alive(owner, slot.owner_start_ticks.load(std::memory_order_acquire))) continue;
    if (!slot.owner_pid.compare_exchange_strong(owner, 0, std::memory_order_acq_rel)) continue;
    if (slot.inflight.exchange(0, std::memory_order_seq_cst) != 0) {
      say("port " + std::to_string(p) + " owner pid " + std::to_string(owner) +
          " died with reservations in flight; reconciling stock");
      d.control().reconcile_requested.fetch_add(1, std::memory_order_acq_rel);
    }
  }
}

}  // namespace

std::uint64_t count_pending_orders(const Config& config) {
  std::unique_ptr<journal::Env> env;
  if (!domains::open_view_read_only(config.data_dir, Domain::order, env).ok()) return 0;
  journal::ReadTxn txn;
  if (!env->begin_read(txn).ok()) return 0;
  std::uint64_t n = 0;
  (void)txn.scan(env->table("pending"), {}, SIZE_MAX, [&](journal::Bytes, journal::Bytes) {
    ++n;
    return true;
  });
  return n;
}

namespace {

bool quiet(ipc::Deployment& d) {
  for (int e = 0; e < d.edge_count(); ++e)
    if (d.ring(d.edge_from(e), d.edge_to(e)).depth() != 0) return false;
  for (std::uint8_t i = 1; i <= domain_count; ++i)
    if (d.status(static_cast<Domain>(i)).outbox_backlog.load(std::memory_order_relaxed) != 0) return false;
  return true;
}

}  // namespace

void request_supervisor_stop() noexcept { stop_flag.store(true, std::memory_order_release); }

namespace {

// The supervisor's state across its watch loop. One instance per `flashsaga run`.
class Supervision {
 public:
  Supervision(const Config& config, const SupervisorOptions& options)
      : config_(config), options_(options) {}

  bool open();             // data directory and shared-memory segment
  void start_children();   // the six domains (and the gateway)
  void watch();            // until a stop has drained (or timed out)
  void stop_children();    // SIGTERM, then SIGKILL after child_stop_timeout_ns
  void close();            // the segment goes

 private:
  int wait_for_signal();
  void begin_stop(std::int64_t now);
  void reap(std::int64_t now);
  void on_exit(Child& c, pid_t pid, int status, std::int64_t now);
  void restart_due(std::int64_t now);
  void announce_ready(std::int64_t now);
  bool drained(std::int64_t now);

  const Config& config_;
  const SupervisorOptions& options_;
  std::unique_ptr<ipc::Deployment> deployment_;
  sigset_t watched_{};
  std::vector<Child> children_;
  std::int64_t started_ns_ = 0;
  bool ready_announced_ = false;
  bool stopping_ = false;
  std::int64_t drain_deadline_ns_ = 0;
  int quiet_rounds_ = 0;
};

bool Supervision::open() {
  std::error_code ec;
  std::filesystem::create_directories(config_.data_dir, ec);
  if (ec) {
    say("cannot create data directory " + config_.data_dir.string() + ": " + ec.message());
    return false;
  }
  ::chmod(config_.data_dir.c_str(), 0700);
  std::string error, note;
  if (!ipc::Deployment::create(config_.data_dir, config_.geometry, deployment_, &error, &note)) {
    say("cannot create the shared-memory segment: " + error);
    return false;
  }
  if (!note.empty()) say(note);
  deployment_->control().supervisor_pid.store(static_cast<std::uint32_t>(::getpid()),
                                               std::memory_order_release);
  sigemptyset(&watched_);
  sigaddset(&watched_, SIGTERM);
  sigaddset(&watched_, SIGINT);
  sigaddset(&watched_, SIGCHLD);
  sigprocmask(SIG_BLOCK, &watched_, nullptr);
  return true;
}

void Supervision::start_children() {
  for (std::uint8_t i = 1; i <= domain_count; ++i)
    children_.push_back({std::string(ipc::domain_name(static_cast<Domain>(i))), static_cast<Domain>(i)});
  if (options_.gateway) children_.push_back({"gateway", Domain::none});
  for (Child& c : children_) c.pid = spawn(c, config_, options_);
  say("started " + std::to_string(children_.size()) + " processes for " + config_.data_dir.string());
  started_ns_ = mono_now_ns();
}

// Waits for SIGTERM/SIGINT/SIGCHLD, at most a watch interval. While stopping it looks often (the
// stop waits on us); a restart due sooner shortens the wait (recovery after a crash is the
// back-off plus the start, not a whole interval); until ready it polls for "ready".
int Supervision::wait_for_signal() {
  std::int64_t wait_ns = stopping_ ? watch_interval_ns / 10 : watch_interval_ns;
  const std::int64_t before = mono_now_ns();
  for (const Child& c : children_)
    if (c.pid == 0 && c.restart_at_ns != 0)
      wait_ns = std::clamp<std::int64_t>(c.restart_at_ns - before, 0, wait_ns);
  if (!ready_announced_) wait_ns = std::min<std::int64_t>(wait_ns, ready_poll_ns);
  timespec timeout{0, static_cast<long>(wait_ns)};
  return sigtimedwait(&watched_, nullptr, &timeout);
}

void Supervision::begin_stop(std::int64_t now) {
  stopping_ = true;
  say("stopping: intake closed, letting in-flight orders finish");
  deployment_->control().stopping.store(1, std::memory_order_release);
  deployment_->control().intake_open.store(0, std::memory_order_seq_cst);
  drain_deadline_ns_ = now + config_.drain_timeout_ms * 1'000'000;
}

void Supervision::reap(std::int64_t now) {
  for (std::uint32_t n = 0; n < reaps_per_look_max; ++n) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    for (Child& c : children_) {
      if (c.pid != pid) continue;
      c.pid = 0;
      if (!stopping_) on_exit(c, pid, status, now);
      break;
    }
  }
}

// A child died while the deployment runs: mark it down and schedule its restart.
void Supervision::on_exit(Child& c, pid_t pid, int status, std::int64_t now) {
  ipc::Deployment& d = *deployment_;
  ++c.restarts;
  say(c.role + " (pid " + std::to_string(pid) + ") " + describe_exit(status) + "; restarting");
  if (c.domain != Domain::none) {
    d.status(c.domain).state.store(static_cast<std::uint32_t>(ipc::DomainState::down),
                                   std::memory_order_release);
    d.status(c.domain).restarts.fetch_add(1, std::memory_order_relaxed);
  }
  // The order domain gives back rejected reservations after its commits: if it died in
  // between, only a reconciliation returns that stock.
  if (c.domain == Domain::order)
    d.control().reconcile_requested.fetch_add(1, std::memory_order_acq_rel);
  c.restart_at_ns = now + config_.restart_backoff_ms * 1'000'000;
}

void Supervision::restart_due(std::int64_t now) {
  reap_dead_ports(*deployment_);
  for (Child& c : children_) {
    if (c.pid != 0 || c.restart_at_ns == 0 || now < c.restart_at_ns) continue;
    c.restart_at_ns = 0;
    c.pid = spawn(c, config_, options_);
  }
}

void Supervision::announce_ready(std::int64_t now) {
  if (ready_announced_) return;
  if (all_ready(*deployment_, children_)) {
    ready_announced_ = true;
    say("ready in " + std::to_string((now - started_ns_) / 1'000'000) + " ms");
    if (options_.on_ready) options_.on_ready();
  } else if (now - started_ns_ > ready_timeout_ns) {
    say("still not ready after 60 s; check the messages above");
    ready_announced_ = true;
  }
}

// Graceful stop: true once sagas have settled for three looks in a row, or at the deadline.
bool Supervision::drained(std::int64_t now) {
  const bool settled = quiet(*deployment_) && count_pending_orders(config_) == 0;
  quiet_rounds_ = settled ? quiet_rounds_ + 1 : 0;
  if (quiet_rounds_ >= 3) return true;
  if (now < drain_deadline_ns_) return false;
  say("drain timeout: orders still pending stay in the journal and resume at the next start");
  return true;
}

void Supervision::watch() {
  for (;;) {  // bounded by the stop: SIGTERM/SIGINT, then drained() within drain_timeout_ms
    const int sig = wait_for_signal();
    const std::int64_t now = mono_now_ns();
    const bool asked = sig == SIGTERM || sig == SIGINT || stop_flag.load(std::memory_order_acquire);
    if (asked && !stopping_) begin_stop(now);
    reap(now);
    if (!stopping_) {
      restart_due(now);
      announce_ready(now);
    } else if (drained(now)) {
      return;
    }
  }
}

void Supervision::stop_children() {
  for (Child& c : children_)
    if (c.pid > 0) ::kill(c.pid, SIGTERM);
  const std::int64_t kill_at = mono_now_ns() + child_stop_timeout_ns;
  for (Child& c : children_) {
    while (c.pid > 0) {  // bounded: SIGKILL at kill_at
      int status = 0;
      const pid_t r = ::waitpid(c.pid, &status, WNOHANG);
      if (r == c.pid || r < 0) {
        c.pid = 0;
        break;
      }
      if (mono_now_ns() > kill_at) {
        say(c.role + " did not stop in time; killing it");
        ::kill(c.pid, SIGKILL);
      }
      timespec pause{0, 10'000'000};
      ::nanosleep(&pause, nullptr);
    }
  }
}

void Supervision::close() {
  deployment_.reset();
  ipc::Segment::remove(config_.data_dir);
  say("stopped");
}

}  // namespace

int run_supervisor(const Config& config, const SupervisorOptions& options) {
  Supervision s(config, options);
  if (!s.open()) return 1;
  s.start_children();
  s.watch();
  s.stop_children();
  s.close();
  return 0;
}

}  // namespace flashsaga::engine
