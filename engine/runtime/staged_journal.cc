#include "engine/runtime/staged_journal.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "domains/rows.h"
#include "engine/base/clock.h"
#include "journal/batch.h"

namespace flashsaga::runtime {
namespace {

// The active log's age, in intervals, past which poll() waits for a late syncer.
constexpr double backpressure_age = 1.75;
// One wait's bound: past it the log keeps growing (a failing disk, logged by the syncer).
constexpr auto backpressure_wait_max = std::chrono::seconds(30);

}  // namespace

journal::Status commit_staged(journal::Env& journal, journal::StagingLog& staging, bool* complete) {
  journal::WriteTxn txn;
  journal::Status s = journal.begin_write(txn);
  if (!s.ok()) return s;
  const journal::TableId cursors = journal.table(domains::cursors_table_name);
  // Frames a crash after the last such commit left behind are already in the journal: skip
  // them; stop at a gap (what follows it cannot be applied in order).
  std::uint64_t next = journal.next_sequence();
  bool gap = false;
  journal::Status inner;
  s = staging.read([&](const journal::Frame& f) {
    if (gap || !inner.ok()) return;
    if (f.kind == journal::FrameKind::batch) {
      journal::BatchView b;
      const auto key = journal::key_u64(f.first_sequence);
      inner = journal::decode_batch(journal::as_bytes(key), f.payload, b);
      if (!inner.ok()) return;
      if (b.next_sequence() <= next) return;
      if (b.first_sequence != next) {
        gap = true;
        return;
      }
      inner = txn.append_stored(f.first_sequence, b.record_count, f.payload);
      next = b.next_sequence();
      return;
    }
    if (f.first_sequence > next) return;  // the cursors of batches that are not there
    journal::BatchView e;
    e.state = f.payload;
    inner = journal::for_each_entry(e, journal::Section::state, [&](const journal::Entry& row) {
      if (!inner.ok()) return;
      std::byte* out = nullptr;
      inner = txn.put_reserved(cursors, row.key, row.value_size, &out);
      if (inner.ok()) row.copy_value(out);
    });
  });
  if (!s.ok()) return s;
  if (!inner.ok()) return inner;
  if (s = txn.commit(); !s.ok()) return s;
  if (complete != nullptr) *complete = !gap;
  return gap ? journal::Status{} : staging.reset();
}

namespace {

// The first sequence a log holds (UINT64_MAX when empty): which of two logs is older.
std::uint64_t first_staged(const journal::StagingLog& log) {
  std::uint64_t first = UINT64_MAX;
  (void)log.read([&](const journal::Frame& f) { first = std::min(first, f.first_sequence); });
  return first;
}

}  // namespace

StagedJournal::StagedJournal(journal::Env& journal, std::int64_t interval_ns, Logger log)
    : journal_(journal),
      interval_ns_(interval_ns),
      log_(std::move(log)),
      last_handover_ns_(mono_now_ns()) {}

journal::Status StagedJournal::open(journal::Env& journal, const std::filesystem::path& path_a,
                                    const std::filesystem::path& path_b, std::int64_t interval_ns,
                                    Logger log, std::unique_ptr<StagedJournal>& out) {
  std::unique_ptr<StagedJournal> j(new StagedJournal(journal, interval_ns, std::move(log)));
  for (int i = 0; i < 2; ++i)
    if (journal::Status s = journal::StagingLog::open(i == 0 ? path_a : path_b, j->logs_[i]);
        !s.ok())
      return s;
  // The older log first (the one the syncer was moving when the process stopped), then the
  // other; a log found out of order (starting past the journal's end) is retried after.
  const int older = first_staged(*j->logs_[0]) <= first_staged(*j->logs_[1]) ? 0 : 1;
  for (int round = 0; round < 2; ++round) {
    for (int i : {older, 1 - older}) {
      if (j->logs_[i]->size_bytes() == 0) continue;
      if (journal::Status s = commit_staged(journal, *j->logs_[i]); !s.ok()) return s;
    }
  }
  // A log that still does not continue the journal follows batches a power loss took (the
  // older log's pages were lost, some of this one's kept): nothing in it can be applied in
  // order. It is kept aside for inspection and emptied; its batches were younger than the lost
  // ones, so this stays within what the mode may lose.
  for (const auto& l : j->logs_) {
    if (l->size_bytes() == 0) continue;
    const std::filesystem::path aside = l->path().string() + ".unreachable";
    std::error_code ec;
    std::filesystem::copy_file(l->path(), aside, std::filesystem::copy_options::overwrite_existing,
                               ec);
    j->log_("staging log " + l->path().string() +
            " does not continue the journal (a power loss took what it "
            "follows): set aside as " +
            aside.string() + (ec ? " (copy failed: " + ec.message() + ")" : "") + " and emptied");
    if (journal::Status s = l->reset(); !s.ok()) return s;
  }
  j->syncer_ = std::thread([p = j.get()] { p->syncer_loop(); });
  out = std::move(j);
  return {};
}

StagedJournal::~StagedJournal() {
  if (syncer_.joinable()) (void)stop();
}

journal::Status StagedJournal::append(std::span<const journal::BatchBuilder* const> batches,
                                      journal::Bytes entries) {
  if (journal::Status s = logs_[active_]->append(batches, entries); !s.ok()) return s;
  poll(mono_now_ns());
  return {};
}

// A handed-over log is durable one sync after its handover, so the handover comes early by
// what its sync should take: the last sync's duration, scaled up by how much more this log
// holds (a sync's cost grows with its bytes), at most three quarters of the interval. A log's
// first group is then durable about one interval after it was staged while syncs take up to
// 3/4 of it, and within two intervals up to 1.75. On a disk whose syncs are quick nothing
// changes; a slow one gets more, smaller syncs.
std::int64_t StagedJournal::expected_sync_ns(std::uint64_t bytes) const {
  const std::int64_t ns = last_sync_ns_.load(std::memory_order_relaxed);
  const std::uint64_t of = last_sync_bytes_.load(std::memory_order_relaxed);
  const double scale =
      of == 0 ? 1.0 : std::max(1.0, static_cast<double>(bytes) / static_cast<double>(of));
  return static_cast<std::int64_t>(
      std::min(static_cast<double>(interval_ns_) * 0.75, static_cast<double>(ns) * scale));
}

void StagedJournal::poll(std::int64_t now_ns) {
  const std::uint64_t staged = logs_[active_]->size_bytes();
  if (staged == 0 || now_ns - last_handover_ns_ < interval_ns_ - expected_sync_ns(staged)) return;
  std::int64_t handover_ns = now_ns;
  {
    std::unique_lock lock(mutex_);
    if (handed_ != -1) {
      // The previous log is still being committed: this one keeps growing, up to its bound.
      const auto bound =
          static_cast<std::int64_t>(static_cast<double>(interval_ns_) * backpressure_age);
      if (now_ns - last_handover_ns_ < bound) return;
      ++stalls_;
      synced_.wait_for(lock, backpressure_wait_max, [&] { return handed_ == -1 || stopping_; });
      if (handed_ != -1) return;
      handover_ns = mono_now_ns();
    }
    handed_ = active_;
  }
  active_ ^= 1;
  last_handover_ns_ = handover_ns;
  wake_.notify_one();
}

void StagedJournal::syncer_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return handed_ != -1 || stopping_; });
    if (handed_ == -1) return;  // stopping, nothing handed over
    journal::StagingLog& log = *logs_[handed_];
    lock.unlock();
    if (before_sync_) before_sync_();
    const std::int64_t began_ns = mono_now_ns();
    const std::uint64_t bytes = log.size_bytes();
    journal::Status s = commit_staged(journal_, log);
    if (s.code() == journal::ErrorCode::map_full) {
      s = journal_.grow();
      if (s.ok()) s = commit_staged(journal_, log);
    }
    // A sync longer than the interval stretches what a power loss may take (the interval plus
    // the sync in progress): say so, with its size.
    const std::int64_t took = mono_now_ns() - began_ns;
    if (s.ok()) {
      last_sync_ns_.store(took, std::memory_order_relaxed);
      last_sync_bytes_.store(bytes, std::memory_order_relaxed);
    }
    if (s.ok() && took > interval_ns_)
      log_("a journal sync took " + std::to_string(took / 1'000'000) + " ms (" +
           std::to_string(bytes) + " staged bytes), longer than fsync_interval_ms");
    lock.lock();
    if (!s.ok()) {
      // The log keeps its batches; it is handed over again at the next interval. Meanwhile the
      // active log grows (a disk stays full: the operator sees this line and the status).
      log_("cannot commit the staging log to the journal (retrying next interval): " + s.message());
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::nanoseconds(interval_ns_));
      lock.lock();
      if (!stopping_) continue;
    }
    if (s.ok()) ++syncs_;
    handed_ = -1;
    synced_.notify_all();
    if (stopping_) return;
  }
}

journal::Status StagedJournal::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  synced_.notify_all();
  if (syncer_.joinable()) syncer_.join();
  // The syncer has finished (or given up on) its log; what remains, oldest first.
  journal::Status result;
  for (int i : {active_ ^ 1, active_}) {
    if (logs_[i]->size_bytes() == 0) continue;
    if (journal::Status s = commit_staged(journal_, *logs_[i]); !s.ok() && result.ok()) result = s;
  }
  return result;
}

std::uint64_t StagedJournal::stalls() const {
  std::lock_guard lock(mutex_);
  return stalls_;
}

std::uint64_t StagedJournal::syncs() const {
  std::lock_guard lock(mutex_);
  return syncs_;
}

}  // namespace flashsaga::runtime
