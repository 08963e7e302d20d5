// runtime: a domain process's two threads — the business thread and the committing thread.
//
//   business thread (run())                     committing thread
//   ───────────────────────                      ─────────────────
//   Agent::run_batch -> BatchBuffer  ──full──>   Committer: journal txn (+ fdatasync under
//        ^                                       sync), view txn, then publish
//        └───────────────────────────  <──free──  (effects, messages, replies, releases)
//
// The business thread applies batch N+1 in memory while batch N commits and syncs; the
// committing thread takes every batch that is ready when it starts a commit (group commit
// grows with load). batch_buffers_max buffers circulate between them, through two bounded
// moodycamel queues (single producer, single consumer each), so the business thread runs at
// most that many batches ahead of the disk; it also stops taking input while more than
// outbox_pending_max messages wait for full rings (back-pressure).
//
// Idle: the business thread spins briefly, then parks on its doorbell (rung by every producer
// feeding it and by the committing thread when a buffer frees up); on a machine with fewer
// cores than busy threads it does not spin at all. The committing thread sleeps on its queue.
// A commit that fails for lack of map space grows the map and retries; one that fails for
// lack of disk (or any I/O error) marks the domain degraded (intake refused) and retries with
// back-off; nothing is dropped.
//
// Requires: an attached Deployment, the logic, options naming both environments.
// Guarantees: what DomainLogic and Committer promise; on stop, the inputs already in the rings
//   are drained, every batch handed over is committed and published (bounded waits), then
//   both threads end.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "domains/logic.h"
#include "ipc/deployment.h"
#include "journal/journal.h"

namespace flashsaga::runtime {

struct RuntimeOptions {
  journal::Options journal;               // tables: the runtime's (cursors)
  journal::Options view;                  // tables: the logic's, then counters; durability nosync
  std::filesystem::path view_memory_dir;  // where the view lives in memory; empty: at view.dir
  // How to open another domain's view read-only (the logic's peers()).
  std::function<journal::Options(ipc::Domain)> peer_view;
  std::uint32_t drain_count_max = flashsaga::drain_count_max;
  std::uint32_t idle_spin_count = 0;  // 0: chosen from the machine's cores
  // journal.durability interval: how often the staged batches are committed (synced).
  std::int64_t fsync_interval_ns = 1'000'000'000;
};

// The interval mode's two staging logs (which: 0 or 1; staged_journal.h), beside the journal.
std::filesystem::path staging_log_path(const journal::Options& journal, int which);

class Runtime {
 public:
  Runtime(RuntimeOptions options, ipc::Deployment& deployment, domains::DomainLogic& logic);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Opens both environments, recovers (recovery.h) and starts the committing thread. False
  // with *error when the domain cannot start.
  bool start(std::string* error);
  // The business loop, until *stop; then drains and joins the committing thread.
  void run(const std::atomic<bool>& stop);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flashsaga::runtime
