#include "engine/supervisor.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "engine/base/clock.h"
#include "domains/journal_open.h"
#include "domains/rows.h"
#include "ipc/deployment.h"
#include "ipc/segment.h"
#include "engine/runtime/recovery.h"
#include "engine/runtime/staged_journal.h"
#include "engine/runtime/view_open.h"
#include "journal/journal.h"
#include "tools/check/probe.h"

namespace flashsaga::engine {
namespace {

using ipc::Domain;

std::atomic<bool> stop_flag{false};

constexpr std::int64_t watch_interval_ns = 200'000'000;  // SIGCHLD and SIGTERM wake it at once
constexpr std::int64_t ready_poll_ns = 5'000'000;        // until every domain is first ready
constexpr std::int64_t child_stop_timeout_ns = 10'000'000'000;
constexpr std::int64_t ready_timeout_ns = 60'000'000'000;
constexpr std::uint32_t reaps_per_look_max = 64;  // children reaped per look (there are 7)

struct Child {
  std::string role;  // "user" ... "payment", "gateway"
  Domain domain = Domain::none;
  pid_t pid = 0;
  std::int64_t restart_at_ns = 0;  // monotonic; 0 = running or not scheduled
  std::uint32_t restarts = 0;
  std::uint32_t failed_starts = 0;  // deaths in a row before the domain was ready
};

void say(const std::string& text) {
  std::fprintf(stderr, "flashsaga supervisor[%d]: %s\n", static_cast<int>(::getpid()),
               text.c_str());
}

// A cluster cell's children are told which cell they are (engine/cluster.h).
void append_cell_args(const Config& config, std::vector<std::string>& args) {
  if (config.cluster_path.empty()) return;
  args.insert(args.begin() + 1,
              {"--cluster", config.cluster_path.string(), "--cell", std::to_string(config.cell)});
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
  std::fprintf(stderr, "flashsaga supervisor: cannot start %s: %s\n", argv[0],
               std::strerror(errno));
  ::_exit(127);
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string("was killed by signal ") + ::strsignal(WTERMSIG(status));
  return "stopped";
}

// A cluster cell also runs its link to NATS JetStream (engine/cells/link.h); a single host never.
void add_cell_link(const Config& config, std::vector<Child>& children) {
  if (!config.cluster_path.empty()) children.push_back({"cells", Domain::none});
}

bool all_ready(ipc::Deployment& d, const std::vector<Child>& children) {
  for (const Child& c : children)
    if (c.domain != Domain::none && d.status(c.domain).state.load(std::memory_order_acquire) !=
                                        static_cast<std::uint32_t>(ipc::DomainState::ready))
      return false;
  return d.control().intake_open.load(std::memory_order_acquire) == 1;
}

// Ports whose owner died with reservations in flight: free them and have stock reconciled.
void reap_dead_ports(ipc::Deployment& d) {
  for (std::uint32_t p = 0; p < d.geometry().ports; ++p) {
    ipc::PortSlot& slot = d.port(p);
    std::uint32_t owner = slot.owner_pid.load(std::memory_order_acquire);
    if (owner == 0 ||
        ipc::process_alive(owner, slot.owner_start_ticks.load(std::memory_order_acquire)))
      continue;
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

// Which domains have reached ready since their spawn (a death before that is a failed start).
void note_ready(ipc::Deployment& d, const std::vector<Child>& children,
                std::vector<bool>& was_ready) {
  for (std::size_t i = 0; i < children.size(); ++i)
    if (children[i].domain != Domain::none && children[i].pid != 0 &&
        d.status(children[i].domain).state.load(std::memory_order_acquire) ==
            static_cast<std::uint32_t>(ipc::DomainState::ready))
      was_ready[i] = true;
}

bool quiet(ipc::Deployment& d) {
  for (int e = 0; e < d.edge_count(); ++e)
    if (d.ring(d.edge_from(e), d.edge_to(e)).depth() != 0) return false;
  for (std::uint8_t i = 1; i <= domain_count; ++i)
    if (d.status(static_cast<Domain>(i)).outbox_backlog.load(std::memory_order_relaxed) != 0)
      return false;
  return true;
}

// After a domain's death: whether to stop restarting it (and the deployment), with the line
// that says why; 0 to restart it as usual. `was_ready`: it had reached ready since its spawn.
int refuse_restart(Child& c, int status, bool was_ready, const Config& config, std::string* why) {
  if (c.domain == Domain::none) return 0;
  // SIGKILL comes from outside (an operator, the OOM killer, a chaos test), not from a failed start.
  const bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  c.failed_starts = was_ready || killed ? 0 : c.failed_starts + 1;
  const bool damaged = WIFEXITED(status) && WEXITSTATUS(status) == exit_damaged_journal;
  if (!damaged && c.failed_starts < start_failures_max) return 0;
  const std::filesystem::path journal = config.domain_dir(c.domain) / "journal";
  const tools::EnvProbe probe = tools::probe_environment(journal);
  if (damaged || !probe.sound) {
    *why =
        "the " + c.role + " domain cannot start: its journal " + journal.string() + " is damaged" +
        (probe.problem.empty() ? "" : " (" + probe.problem + ")") +
        ". Not restarting anything. Restore that directory from a copy, or start the domain over "
        "empty, losing its data: flashsaga journal reset --data " +
        config.data_dir.string() + " --domain " + c.role +
        " --yes (docs/durability.md, \"Recovery after a power loss\")";
    return exit_damaged_journal;
  }
  *why = "the " + c.role + " domain died " + std::to_string(c.failed_starts) +
         " times in a row before it was ready (its journal reads whole); not restarting: see its "
         "messages above";
  return exit_start_loop;
}

// When the order journal lost messages its peers applied: the orders it lost that a peer still
// names are marked (runtime::mark_lost_orders), so new orders are numbered above them and check
// lists their steps.
journal::Status mark_lost_orders_after(const std::array<journal::Env*, 7>& opened,
                                       const std::vector<runtime::EdgeRepair>& repairs) {
  journal::Env* order = opened[static_cast<std::size_t>(Domain::order)];
  const bool order_behind = std::any_of(
      repairs.begin(), repairs.end(),
      [](const runtime::EdgeRepair& r) { return r.from == Domain::order && r.skipped_ahead; });
  if (order == nullptr || !order_behind) return {};
  std::uint64_t order_max = 0, peers_max = 0;
  if (journal::Status s = runtime::highest_order_id(*order, order_max); !s.ok()) return s;
  for (Domain peer : {Domain::product, Domain::coupon, Domain::point, Domain::payment}) {
    std::uint64_t m = 0;
    journal::Env* env = opened[static_cast<std::size_t>(peer)];
    if (env == nullptr) continue;
    if (journal::Status s = runtime::highest_order_id(*env, m); !s.ok()) return s;
    peers_max = std::max(peers_max, m);
  }
  if (peers_max <= order_max) return {};
  say("after a power loss the order journal ends at order " + std::to_string(order_max) +
      " while other domains hold steps for orders up to " + std::to_string(peers_max) +
      ": new orders are numbered from " + std::to_string(peers_max + 1) +
      "; `flashsaga check` lists those steps (LOST lines, exit 3) for an operator to settle");
  return runtime::mark_lost_orders(*order, order_max + 1, peers_max);
}

// Under interval, before any domain starts: every staging log is moved into its journal, then
// the saga edges whose two ends' journals disagree (a power loss kept different prefixes) are
// repaired (runtime::repair_edges: skip ahead, or re-send). Nothing to do after a clean stop or
// a process crash; a journal that does not open is left to its domain, which says why.
void settle_interval_journals(const Config& config) {
  if (config.durability != journal::Durability::interval) return;
  std::array<std::unique_ptr<journal::Env>, 7> envs;
  std::array<journal::Env*, 7> opened{};
  for (std::uint8_t i = 1; i <= domain_count; ++i) {
    const journal::Options o = config.journal_options(static_cast<Domain>(i));
    std::error_code ec;
    if (!std::filesystem::exists(o.dir / "data.mdb", ec)) continue;  // a new deployment
    journal::Status s = journal::Env::open(o, envs[i]);
    std::unique_ptr<runtime::StagedJournal> staged;
    if (s.ok())
      s = runtime::StagedJournal::open(
          *envs[i], o.dir.parent_path() / "staging-a.log", o.dir.parent_path() / "staging-b.log",
          config.fsync_interval_ms * 1'000'000, [](const std::string& l) { say(l); }, staged);
    if (s.ok()) s = staged->stop();
    if (!s.ok()) {
      say("cannot settle the " + std::string(ipc::domain_name(static_cast<Domain>(i))) +
          " journal before the start: " + s.message() + " (its domain will say more)");
      return;
    }
    opened[i] = envs[i].get();
  }
  std::vector<runtime::EdgeRepair> repairs;
  if (journal::Status s = runtime::repair_edges(opened, config.geometry.ports, repairs); !s.ok()) {
    say("cannot repair the saga edges: " + s.message());
    return;
  }
  if (journal::Status s = mark_lost_orders_after(opened, repairs); !s.ok())
    say("cannot look for lost orders: " + s.message());
  for (const runtime::EdgeRepair& r : repairs)
    say(std::string("after a power loss, edge ") + std::string(ipc::domain_name(r.from)) + "->" +
        std::string(ipc::domain_name(r.to)) + ": " +
        (r.skipped_ahead
             ? "the " + std::string(ipc::domain_name(r.to)) + " domain applied up to " +
                   std::to_string(r.consumer_applied) + ", the producer's journal ends at " +
                   std::to_string(r.producer_last) + ": new messages continue after " +
                   std::to_string(r.consumer_applied)
             : "the " + std::string(ipc::domain_name(r.to)) + " domain lost messages " +
                   std::to_string(r.consumer_applied + 1) + ".." +
                   std::to_string(r.producer_acked) +
                   " it had applied: re-sent from journal batch " + std::to_string(r.resend_from)));
}

}  // namespace

void request_supervisor_stop() noexcept {
  stop_flag.store(true, std::memory_order_release);
}

namespace {

// The supervisor's state across its watch loop. One instance per `flashsaga run`.
class Supervision {
 public:
  Supervision(const Config& config, const SupervisorOptions& options)
      : config_(config), options_(options) {}

  bool open();            // data directory and shared-memory segment
  void start_children();  // the six domains (and the gateway)
  void watch();           // until a stop has drained (or timed out)
  void stop_children();   // SIGTERM, then SIGKILL after child_stop_timeout_ns
  int close();            // the segment goes; the exit code of `flashsaga run`

 private:
  int wait_for_signal();
  void begin_stop(std::int64_t now);
  void reap(std::int64_t now);
  void on_exit(Child& c, std::size_t index, pid_t pid, int status, std::int64_t now);
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
  int refused_ = 0;              // exit_damaged_journal / exit_start_loop: a domain cannot start
  std::vector<bool> was_ready_;  // per child: ready since its last start
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
  if (const std::size_t n = runtime::remove_orphan_memory_views(view_memory_root); n != 0)
    say("freed the in-memory views of " + std::to_string(n) +
        " deployment(s) whose data directory is gone (" + view_memory_root + ")");
  settle_interval_journals(config_);
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
    children_.push_back(
        {std::string(ipc::domain_name(static_cast<Domain>(i))), static_cast<Domain>(i)});
  if (options_.gateway) children_.push_back({"gateway", Domain::none});
  add_cell_link(config_, children_);
  for (Child& c : children_) c.pid = spawn(c, config_, options_);
  was_ready_.assign(children_.size(), false);
  say("started " + std::to_string(children_.size()) + " processes for " +
      config_.data_dir.string());
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
    for (std::size_t i = 0; i < children_.size(); ++i) {
      if (children_[i].pid != pid) continue;
      children_[i].pid = 0;
      if (!stopping_) on_exit(children_[i], i, pid, status, now);
      break;
    }
  }
}

// A child died while the deployment runs: mark it down and schedule its restart, unless it
// cannot start (a damaged journal, a start loop): then everything stops, saying why.
void Supervision::on_exit(Child& c, std::size_t index, pid_t pid, int status, std::int64_t now) {
  ipc::Deployment& d = *deployment_;
  std::string why;
  if ((refused_ = refuse_restart(c, status, was_ready_[index], config_, &why)) != 0) {
    say(c.role + " (pid " + std::to_string(pid) + ") " + describe_exit(status) + "; " + why);
    stopping_ = true;
    return;
  }
  was_ready_[index] = false;
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
    if (refused_ != 0) return;
    note_ready(*deployment_, children_, was_ready_);
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

int Supervision::close() {
  deployment_.reset();
  ipc::Segment::remove(config_.data_dir);
  say(refused_ != 0 ? "stopped: a domain cannot start (exit " + std::to_string(refused_) + ")"
                    : "stopped");
  return refused_;
}

}  // namespace

int run_supervisor(const Config& config, const SupervisorOptions& options) {
  Supervision s(config, options);
  if (!s.open()) return 1;
  s.start_children();
  s.watch();
  s.stop_children();
  return s.close();
}

}  // namespace flashsaga::engine
