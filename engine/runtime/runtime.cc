#include "engine/runtime/runtime.h"

#include <readerwriterqueue/readerwriterqueue.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "engine/base/assert.h"
#include "engine/base/clock.h"
#include "engine/runtime/agent.h"
#include "engine/runtime/committer.h"
#include "engine/runtime/log.h"
#include "engine/runtime/staged_journal.h"
#include "engine/runtime/recovery.h"
#include "engine/runtime/ring_transport.h"
#include "engine/runtime/view_open.h"
#include "ipc/idle_strategy.h"

namespace flashsaga::runtime {
namespace {

constexpr std::int64_t degraded_backoff_ns = 200'000'000;
constexpr std::int64_t commit_wait_idle_us = 50'000;  // committing thread, nothing pending
constexpr std::int64_t commit_wait_backlog_us = 200;  // ... while messages wait for a ring
constexpr std::int64_t peer_retry_ns = 100'000'000;   // a peer view that is not there yet
constexpr std::uint32_t drain_rounds_max = 64;        // graceful stop: batches drained
constexpr std::uint32_t flush_rounds_max = 20'000;    // graceful stop: full rings retried

class LazyPeers final : public PeerViews {
 public:
  explicit LazyPeers(std::function<journal::Options(ipc::Domain)> options)
      : options_(std::move(options)) {}
  const journal::Env* open(ipc::Domain d) override {
    Slot& slot = slots_[static_cast<std::size_t>(d)];
    if (slot.env) return slot.env.get();
    if (!options_) return nullptr;
    const std::int64_t now = mono_now_ns();
    if (now < slot.retry_at_ns) return nullptr;
    journal::Options o = options_(d);
    o.read_only = true;
    o.create = false;
    if (!journal::Env::open(o, slot.env).ok()) {
      slot.env.reset();
      slot.retry_at_ns = now + peer_retry_ns;
    }
    return slot.env.get();
  }

 private:
  struct Slot {
    std::unique_ptr<journal::Env> env;
    std::int64_t retry_at_ns = 0;
  };
  std::function<journal::Options(ipc::Domain)> options_;
  std::array<Slot, domain_count + 2> slots_;
};

std::uint32_t spin_count_for_machine() {
  // Six domains with two threads each, the gateway and its clients: with fewer cores than that,
  // a spinning thread only delays the one it waits for.
  const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  return cores >= 16 ? idle_spin_count_max : 0;
}

}  // namespace

struct Runtime::Impl {
  RuntimeOptions options;
  ipc::Deployment& deployment;
  domains::DomainLogic& logic;
  ipc::Domain self;
  std::unique_ptr<journal::Env> journal;
  std::unique_ptr<journal::Env> view;
  std::unique_ptr<StagedJournal> staged;  // interval mode only
  std::unique_ptr<RingTransport> transport;
  std::unique_ptr<LazyPeers> peers;
  std::unique_ptr<Agent> agent;
  std::unique_ptr<Committer> committer;
  std::array<BatchBuffer, batch_buffers_max> buffers;
  moodycamel::BlockingReaderWriterQueue<BatchBuffer*> full{batch_buffers_max};
  moodycamel::ReaderWriterQueue<BatchBuffer*> free{batch_buffers_max};
  std::thread committing;
  std::atomic<bool> stopping{false};
  bool degraded = false;

  Impl(RuntimeOptions o, ipc::Deployment& d, domains::DomainLogic& l)
      : options(std::move(o)), deployment(d), logic(l), self(l.domain()) {}

  ipc::DomainStatus& status() { return deployment.status(self); }
  ipc::Doorbell& bell() { return deployment.doorbell(ipc::domain_node(self)); }

  bool open(std::string* error);
  bool open_staging(std::string* error);
  std::size_t cycle(BatchBuffer*& buffer, std::int64_t mono_ns);
  void commit_loop();
  void sync_staged(bool now);
  std::int64_t sync_wait_us = commit_wait_idle_us;
  void commit_group(std::vector<BatchBuffer*>& group);
  bool handle_failure(journal::Env& env, const journal::Status& s, const char* what);
  void set_degraded(bool on);
};

Runtime::Runtime(RuntimeOptions options, ipc::Deployment& deployment, domains::DomainLogic& logic)
    : impl_(std::make_unique<Impl>(std::move(options), deployment, logic)) {}

Runtime::~Runtime() {
  if (impl_->committing.joinable()) {
    impl_->stopping.store(true, std::memory_order_release);
    impl_->committing.join();
  }
}

std::filesystem::path staging_log_path(const journal::Options& journal, int which) {
  return journal.dir.parent_path() / (which == 0 ? "staging-a.log" : "staging-b.log");
}

bool Runtime::Impl::open(std::string* error) {
  journal::Status s = journal::Env::open(options.journal, journal);
  if (!s.ok()) {
    *error = "cannot open journal " + options.journal.dir.string() + ": " + s.message();
    return false;
  }
  if (!open_staging(error)) return false;
  bool rebuilt = false;
  std::string why;
  s = open_view(options.view, options.view_memory_dir, deployment.segment_id(), view, &rebuilt,
                &why);
  if (!s.ok()) {
    *error = "cannot open view " + options.view.dir.string() + ": " + s.message();
    return false;
  }
  if (rebuilt) log_line(self, "the view is rebuilt from the journal: " + why);
  if (!rebuilt && !why.empty()) log_line(self, why);
  return true;
}

// Under interval the committer stages through two logs beside the journal (staged_journal.h);
// logs an interval-mode run left (even if this run is in another mode) go into the journal
// before anything reads it.
bool Runtime::Impl::open_staging(std::string* error) {
  const std::filesystem::path a = staging_log_path(options.journal, 0),
                              b = staging_log_path(options.journal, 1);
  const bool interval = options.journal.durability == journal::Durability::interval;
  std::error_code ec;
  if (!interval && !std::filesystem::exists(a, ec) && !std::filesystem::exists(b, ec)) return true;
  journal::Status s = StagedJournal::open(
      *journal, a, b, options.fsync_interval_ns,
      [this](const std::string& line) { log_line(self, line); }, staged);
  if (!s.ok()) {
    *error = "cannot replay the staging logs " + a.string() + ": " + s.message();
    return false;
  }
  if (!interval) {
    staged.reset();
    std::filesystem::remove(a, ec);
    std::filesystem::remove(b, ec);
  }
  return true;
}

bool Runtime::start(std::string* error) {
  Impl& m = *impl_;
  const std::int64_t started_ns = mono_now_ns();
  // A predecessor killed while degraded left its bit set; this process finds out for itself.
  m.deployment.control().degraded_domains.fetch_and(~(1u << static_cast<unsigned>(m.self)),
                                                    std::memory_order_seq_cst);
  if (!m.open(error)) return false;
  m.transport = std::make_unique<RingTransport>(m.deployment, m.self);
  m.peers = std::make_unique<LazyPeers>(m.options.peer_view);
  ViewTables tables;
  for (const std::string& t : m.logic.tables()) tables.by_tag.push_back(m.view->table(t));
  tables.counters = m.view->table(domains::view_counters_table_name);
  Recovered r;
  journal::Status s = recover(*m.journal, *m.view, tables, m.logic, *m.transport, r);
  if (!s.ok()) {
    *error = "recovery failed: " + s.message();
    return false;
  }
  if (r.view_rebuilt) log_line(m.self, "the view was rebuilt: it was built from another journal");
  if (r.view_batches_replayed != 0)
    log_line(m.self, "the view caught up with " + std::to_string(r.view_batches_replayed) +
                         " journal batches");
  m.agent = std::make_unique<Agent>(m.logic, *m.transport, m.view.get(), m.peers.get(),
                                    m.options.drain_count_max);
  m.agent->resume(r.agent);
  m.committer = std::make_unique<Committer>(*m.journal, *m.view, *m.transport, tables, &m.status(),
                                            std::move(m.staged));
  m.committer->resume(std::move(r.committer));
  m.agent->set_view_progress(m.committer->viewed_counter());
  m.committer->flush();
  for (BatchBuffer& b : m.buffers) m.free.enqueue(&b);
  if (m.options.journal.durability == journal::Durability::interval)
    m.sync_wait_us =
        std::clamp<std::int64_t>(m.options.fsync_interval_ns / 4'000, 1'000, commit_wait_idle_us);
  m.committing = std::thread([&m] { m.commit_loop(); });
  log_line(m.self, "ready in " + std::to_string((mono_now_ns() - started_ns) / 1'000'000) +
                       " ms (" + std::to_string(m.journal->stats().journal_records) +
                       " journal records)");
  return true;
}

// One pass of the business loop; mono_ns: the pass's one monotonic clock read.
std::size_t Runtime::Impl::cycle(BatchBuffer*& buffer, std::int64_t mono_ns) {
  if (buffer == nullptr && !free.try_dequeue(buffer)) return 0;  // every buffer is on its way
  const std::size_t headroom =
      std::size_t{options.drain_count_max} * (transport->inputs().size() + 1);
  const bool take = logic.before_batch() && committer->backlog() + headroom <= outbox_pending_max;
  bool filled = false;
  const std::size_t work =
      agent->run_batch(*buffer, committer->viewed_batch(), take, wall_now_ns(), mono_ns, &filled);
  if (filled) {
    full.enqueue(buffer);
    buffer = nullptr;
  }
  return work;
}

void Runtime::run(const std::atomic<bool>& stop) {
  Impl& m = *impl_;
  const std::uint32_t spins =
      m.options.idle_spin_count != 0 ? m.options.idle_spin_count : spin_count_for_machine();
  ipc::IdleStrategy idle(spins, spins == 0 ? 2 : idle_yield_count_max, park_ns_max);
  BatchBuffer* buffer = nullptr;
  const std::function<bool()> has_work = [&] {
    if (buffer == nullptr && m.free.peek() == nullptr) return false;  // waiting for the disk
    return m.agent->has_work(mono_now_ns());  // deadlines run on the monotonic clock
  };
  // One monotonic clock read per pass (heartbeat, batch time, park length); parking re-reads
  // it only to re-check deadlines, and the wall clock is read once per pass, in cycle().
  while (!stop.load(std::memory_order_acquire)) {
    const std::int64_t now = mono_now_ns();
    m.status().heartbeat_ns.store(now, std::memory_order_relaxed);
    const std::size_t work = m.cycle(buffer, now);
    const std::int64_t due = m.logic.next_due_ns();
    std::int64_t park = park_ns_max;
    if (due != INT64_MAX) park = std::clamp<std::int64_t>(due - now, 1'000, park_ns_max);
    idle.idle(work, m.bell(), has_work, park);
  }
  // Drain what is already in our rings so a graceful stop leaves nothing half-done.
  for (std::uint32_t round = 0; round < drain_rounds_max; ++round) {
    if (m.cycle(buffer, mono_now_ns()) == 0 && buffer != nullptr) break;
    if (buffer == nullptr) std::this_thread::yield();
  }
  m.stopping.store(true, std::memory_order_release);
  m.committing.join();
  (void)m.journal->sync();
  (void)close_view_clean(*m.view, m.deployment.segment_id());  // the view holds every commit
}

void Runtime::Impl::commit_loop() {
  std::vector<BatchBuffer*> group;
  group.reserve(batch_buffers_max);
  for (;;) {
    BatchBuffer* b = nullptr;
    const std::int64_t wait_us =
        committer->backlog() != 0 ? commit_wait_backlog_us : commit_wait_idle_us;
    if (!full.wait_dequeue_timed(b, std::min(wait_us, sync_wait_us))) {
      if (committer->backlog() != 0 && committer->flush() != 0) doorbell_ring(bell());
      sync_staged(false);
      if (stopping.load(std::memory_order_acquire) && full.peek() == nullptr) break;
      continue;
    }
    group.clear();
    group.push_back(b);
    while (group.size() < batch_buffers_max && full.try_dequeue(b)) group.push_back(b);
    commit_group(group);
    for (BatchBuffer* done : group) {
      committer->publish(*done);
      free.enqueue(done);
    }
    doorbell_ring(bell());  // the business thread may be waiting for a buffer
  }
  for (std::uint32_t round = 0; round < flush_rounds_max && committer->backlog() != 0; ++round) {
    if (committer->flush() == 0) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  sync_staged(true);
}

// interval: commits the staged batches when due (or now, at a stop); a failure is retried at
// the next call, the batches staying in the log meanwhile.
void Runtime::Impl::sync_staged(bool now) {
  const journal::Status s = committer->sync_staged(now);
  if (!s.ok())
    log_line(self, "cannot commit the staging log to the journal (retrying): " + s.message());
}

void Runtime::Impl::commit_group(std::vector<BatchBuffer*>& group) {
  for (;;) {
    const journal::Status s = committer->write_journal(group);
    if (s.ok()) break;
    if (!handle_failure(*journal, s, "journal")) continue;
  }
  for (;;) {
    const journal::Status s = committer->write_view(group);
    if (s.ok()) break;
    if (!handle_failure(*view, s, "view")) continue;
  }
  if (degraded) {
    log_line(self, "commits succeed again; leaving degraded state, intake reopens");
    set_degraded(false);
  }
}

// Returns after the retry may go ahead (a grown map: at once; otherwise after a back-off).
bool Runtime::Impl::handle_failure(journal::Env& env, const journal::Status& s, const char* what) {
  journal::Status cause = s;
  if (s.code() == journal::ErrorCode::map_full) {
    journal::Status g = env.grow();
    if (g.ok()) return false;
    cause = g;
  }
  if (!degraded) {
    log_line(self, std::string("cannot commit the ") + what + " (" +
                       std::string(journal::error_code_name(cause.code())) + ": " +
                       cause.message() +
                       "); order intake paused, inputs stay in their rings; retrying");
    set_degraded(true);
  }
  std::this_thread::sleep_for(std::chrono::nanoseconds(degraded_backoff_ns));
  return true;
}

void Runtime::Impl::set_degraded(bool on) {
  degraded = on;
  const std::uint32_t bit = 1u << static_cast<unsigned>(self);
  std::atomic<std::uint32_t>& mask = deployment.control().degraded_domains;
  if (on) {
    mask.fetch_or(bit, std::memory_order_seq_cst);
  } else {
    mask.fetch_and(~bit, std::memory_order_seq_cst);
  }
  status().state.store(
      static_cast<std::uint32_t>(on ? ipc::DomainState::degraded : ipc::DomainState::ready),
      std::memory_order_release);
}

}  // namespace flashsaga::runtime
