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

// A cluster cell's children are told which cell they are (engine/cluster.h).
void append_cell_args(const Config& config, std::vector<std::string>& args) {
  if (config.cluster_path.empty()) return;
  args.insert(args.begin() + 1, {"--cluster", config.cluster_path.string(), "--cell", std::to_string(config.cell)});
}

pid_t spawn(const Child& child, const Config& config, const SupervisorOptions& options) {
  std::vector<std::string> args = {options.executable.string()};
  if (child.role == "gateway" || child.role == "cells") {
    args.push_back(child.role);
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
  append_cell_args(config, args);
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

// A cluster cell also runs its link to NATS JetStream (engine/cells/link.h); a single host never.
void add_cell_link(const Config& config, std::vector<Child>& children) {
  if (!config.cluster_path.empty()) children.push_back({"cells", Domain::none});
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

int run_supervisor(const Config& config, const SupervisorOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    say("cannot create data directory " + config.data_dir.string() + ": " + ec.message());
    return 1;
  }
  ::chmod(config.data_dir.c_str(), 0700);

  std::unique_ptr<ipc::Deployment> deployment;
  std::string error, note;
  if (!ipc::Deployment::create(config.data_dir, config.geometry, deployment, &error, &note)) {
    say("cannot create the shared-memory segment: " + error);
    return 1;
  }
  if (!note.empty()) say(note);
  ipc::Deployment& d = *deployment;
  d.control().supervisor_pid.store(static_cast<std::uint32_t>(::getpid()), std::memory_order_release);

  sigset_t watched;
  sigemptyset(&watched);
  sigaddset(&watched, SIGTERM);
  sigaddset(&watched, SIGINT);
  sigaddset(&watched, SIGCHLD);
  sigprocmask(SIG_BLOCK, &watched, nullptr);

  std::vector<Child> children;
  for (std::uint8_t i = 1; i <= domain_count; ++i)
    children.push_back({std::string(ipc::domain_name(static_cast<Domain>(i))), static_cast<Domain>(i)});
  if (options.gateway) children.push_back({"gateway", Domain::none});
  add_cell_link(config, children);
  for (Child& c : children) c.pid = spawn(c, config, options);
  say("started " + std::to_string(children.size()) + " processes for " + config.data_dir.string());

  bool ready_announced = false;
  const std::int64_t started = mono_now_ns();
  bool stopping = false;
  std::int64_t drain_deadline = 0;
  int quiet_rounds = 0;
  while (true) {
    // While stopping, look often: the stop is waiting on us.
    // A restart due sooner than the next look shortens the wait: recovery after a crash is
    // the back-off plus the start, not a whole watch interval.
    std::int64_t wait_ns = stopping ? watch_interval_ns / 10 : watch_interval_ns;
    const std::int64_t before = mono_now_ns();
    for (const Child& c : children)
      if (c.pid == 0 && c.restart_at_ns != 0) wait_ns = std::clamp<std::int64_t>(c.restart_at_ns - before, 0, wait_ns);
    if (!ready_announced) wait_ns = std::min<std::int64_t>(wait_ns, ready_poll_ns);  // say "ready" when it is
    timespec timeout{0, static_cast<long>(wait_ns)};
    const int sig = sigtimedwait(&watched, nullptr, &timeout);
    const std::int64_t now = mono_now_ns();
    if ((sig == SIGTERM || sig == SIGINT || stop_flag.load(std::memory_order_acquire)) && !stopping) {
      stopping = true;
      say("stopping: intake closed, letting in-flight orders finish");
      d.control().stopping.store(1, std::memory_order_release);
      d.control().intake_open.store(0, std::memory_order_seq_cst);
      drain_deadline = now + config.drain_timeout_ms * 1'000'000;
    }
    // Reap.
    for (std::uint32_t n = 0; n < 64; ++n) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      for (Child& c : children) {
        if (c.pid != pid) continue;
        c.pid = 0;
        if (stopping) break;
        ++c.restarts;
        say(c.role + " (pid " + std::to_string(pid) + ") " + describe_exit(status) + "; restarting");
        if (c.domain != Domain::none) {
          d.status(c.domain).state.store(static_cast<std::uint32_t>(ipc::DomainState::down), std::memory_order_release);
          d.status(c.domain).restarts.fetch_add(1, std::memory_order_relaxed);
        }
        // The order domain gives back rejected reservations after its commits: if it died in
        // between, only a reconciliation returns that stock.
        if (c.domain == Domain::order) d.control().reconcile_requested.fetch_add(1, std::memory_order_acq_rel);
        c.restart_at_ns = now + config.restart_backoff_ms * 1'000'000;
      }
    }
    if (!stopping) {
      reap_dead_ports(d);
      for (Child& c : children) {
        if (c.pid != 0 || c.restart_at_ns == 0 || now < c.restart_at_ns) continue;
        c.restart_at_ns = 0;
        c.pid = spawn(c, config, options);
      }
      if (!ready_announced && all_ready(d, children)) {
        ready_announced = true;
        say("ready in " + std::to_string((now - started) / 1'000'000) + " ms");
        if (options.on_ready) options.on_ready();
      } else if (!ready_announced && now - started > ready_timeout_ns) {
        say("still not ready after 60 s; check the messages above");
        ready_announced = true;
      }
      continue;
    }
    // Graceful stop: wait for sagas to settle, then stop everyone.
    const bool settled = quiet(d) && count_pending_orders(config) == 0;
    quiet_rounds = settled ? quiet_rounds + 1 : 0;
    if (quiet_rounds < 3 && now < drain_deadline) continue;
    if (quiet_rounds < 3) say("drain timeout: orders still pending stay in the journal and resume at the next start");
    break;
  }

  for (Child& c : children)
    if (c.pid > 0) ::kill(c.pid, SIGTERM);
  const std::int64_t kill_at = mono_now_ns() + child_stop_timeout_ns;
  for (Child& c : children) {
    while (c.pid > 0) {
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
  deployment.reset();
  ipc::Segment::remove(config.data_dir);
  say("stopped");
  return 0;
}

}  // namespace flashsaga::engine
