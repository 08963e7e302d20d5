// committer: the durable stage of a domain — BatchBuffers -> journal -> view -> out.
//
// For each group of batches the business thread handed over (everything that arrived while
// the previous commit ran: group commit grows with load), in order:
//   1. write_journal(): one write transaction on the journal environment appends each batch as
//      one value and updates the runtime's cursors (inbox positions, outbox cursors); its
//      commit is the batch's durability point (an fdatasync under `sync`);
//   2. write_view(): one write transaction on the view environment applies the batches' state
//      entries and the view position (never synced: the journal can rebuild it);
//   3. publish(): only now do the batches' consequences leave the process — shared-memory
//      effects first, then messages (in edge order; a full ring keeps the rest pending, in
//      order), replies (after the view, so a client that got a 202 can read its order), and
//      the released input slots with their acknowledgements.
// A failed commit stores nothing and is retried by the caller with the same batches (map full:
// grow and retry; disk full: degraded, back off, retry); nothing is ever dropped or undone.
//
// Requires: the committing thread only; resume() once before the first commit.
// Guarantees: nothing a batch causes is visible outside the process before its journal commit
//   returned ok and its view commit returned ok; per output edge, messages leave in sequence
//   order exactly once per process lifetime (a restart re-sends what was not acknowledged).
#pragma once

#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "domains/rows.h"
#include "ipc/deployment.h"
#include "engine/runtime/batch_buffer.h"
#include "engine/runtime/transport.h"
#include "journal/journal.h"
#include "engine/runtime/staged_journal.h"

namespace flashsaga::runtime {

struct ViewTables {
  std::vector<journal::TableId> by_tag;  // the logic's tables, by state-entry tag
  journal::TableId counters = 0;         // the view's counters table
};

// Test-only fault injection (the deterministic simulator, tests/sim): asked just before each
// commit. A non-ok status fails that commit as if LMDB had returned it — the transaction is
// aborted, nothing is stored — and the caller retries the same batches, as after a real error.
class CommitFaults {
 public:
  virtual ~CommitFaults() = default;
  virtual journal::Status before_commit(
      bool view) = 0;  // view: the view commit, else the journal's
};

// Applies one batch's state entries (puts and deletes) to a view transaction.
journal::Status apply_state(journal::WriteTxn& view, const ViewTables& tables,
                            const journal::BatchView& batch);

struct CommitterStart {
  std::vector<domains::OutboxCursor> outbox;      // per output, as last journaled
  std::vector<std::vector<ipc::Message>> resend;  // per output: committed, not acknowledged
  std::vector<std::uint64_t> resend_batches;      // per output: batch (first seq) of resend[0]
  std::vector<domains::InboxEntry> inbox;         // per input, as last journaled
  std::uint64_t viewed_batch = 0;
  std::int64_t journal_created_ns = 0;
};

class Committer {
 public:
  // staged: the interval mode's way into the journal (null under sync and nosync).
  Committer(journal::Env& journal, journal::Env& view, Transport& transport, ViewTables tables,
            ipc::DomainStatus* status, std::unique_ptr<StagedJournal> staged = nullptr);

  void resume(CommitterStart start);
  // Test-only: where injected commit failures come from (nullptr: none, the default).
  void set_faults(CommitFaults* faults) noexcept { faults_ = faults; }

  journal::Status write_journal(std::span<BatchBuffer* const> batches);
  journal::Status write_view(std::span<BatchBuffer* const> batches);
  void publish(BatchBuffer& batch);
  // interval: hands the staged batches to the syncer when due (call it when idle too); at a
  // stop (now == true) commits everything staged. Returns ok or the commit's error.
  journal::Status sync_staged(bool now);
  // Retries messages a full ring kept back; returns how many went out.
  std::size_t flush();

  // Messages committed and not yet in a ring (any thread may read).
  std::size_t backlog() const noexcept { return backlog_.load(std::memory_order_relaxed); }
  // The last batch whose view commit succeeded / that was published (any thread may read).
  std::uint64_t viewed_batch() const noexcept {
    return viewed_batch_.load(std::memory_order_acquire);
  }
  std::uint64_t published_batch() const noexcept {
    return published_batch_.load(std::memory_order_acquire);
  }
  const std::atomic<std::uint64_t>* viewed_counter() const noexcept { return &viewed_batch_; }

 private:
  struct Output {
    std::vector<ipc::Message> pending;  // committed, not yet in the ring, from `head`
    std::size_t head = 0;
    // Batches (first record sequence, last message sequence) whose messages are not all
    // acknowledged yet: the first one is where a restart re-sends from.
    std::deque<std::pair<std::uint64_t, std::uint64_t>> unacked;
    domains::OutboxCursor cursor{};  // as last journaled
    domains::OutboxCursor next{};    // as in the commit under way
  };
  // A cursors row (domains/rows.h) as it is written.
  struct CursorRow {
    std::array<std::byte, 16> key;
    std::array<std::byte, sizeof(domains::OutboxCursor)> bytes;
    std::size_t size;
    journal::Bytes value() const noexcept { return journal::Bytes(bytes.data(), size); }
    template <typename Row>
    static CursorRow of(std::uint64_t kind, int edge, const Row& row) {
      static_assert(sizeof(Row) <= sizeof(domains::OutboxCursor));
      CursorRow r{journal::key_u64_u64(kind, static_cast<std::uint64_t>(edge)), {}, sizeof(Row)};
      std::memcpy(r.bytes.data(), &row, sizeof(Row));
      return r;
    }
  };
  void collect_cursors(std::span<BatchBuffer* const> batches);
  journal::Status commit(std::span<BatchBuffer* const> batches);
  journal::Status stage(std::span<BatchBuffer* const> batches);
  void note_unacked(BatchBuffer& batch);

  journal::Env& journal_;
  journal::Env& view_;
  Transport& transport_;
  ViewTables tables_;
  ipc::DomainStatus* status_;
  CommitFaults* faults_ = nullptr;
  journal::TableId cursors_ = 0;
  std::vector<Output> outputs_;
  std::vector<domains::InboxEntry> inbox_;       // as last journaled
  std::vector<domains::InboxEntry> inbox_next_;  // as in the commit under way
  std::vector<std::uint64_t> out_last_;  // scratch: per output, last message sequence in a batch
  std::atomic<std::size_t> backlog_{0};
  std::int64_t journal_created_ns_ = 0;
  std::uint64_t last_view_sequence_ = 0;
  std::vector<CursorRow> cursor_rows_;  // the commit under way's cursors
  std::unique_ptr<StagedJournal> staged_;
  std::vector<const journal::BatchBuilder*> staged_builders_;
  journal::BatchBuilder staged_entries_;
  std::atomic<std::uint64_t> viewed_batch_{0};
  std::atomic<std::uint64_t> published_batch_{0};
};

}  // namespace flashsaga::runtime
