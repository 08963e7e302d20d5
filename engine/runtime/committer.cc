#include "engine/runtime/committer.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "engine/base/assert.h"
#include "engine/base/clock.h"
#include "journal/batch.h"

namespace flashsaga::runtime {
namespace {

using domains::InboxEntry;
using domains::OutboxCursor;

}  // namespace

journal::Status apply_state(journal::WriteTxn& view, const ViewTables& tables,
                            const journal::BatchView& batch) {
  journal::Status inner;
  journal::Status s =
      journal::for_each_entry(batch, journal::Section::state, [&](const journal::Entry& e) {
        if (!inner.ok()) return;
        const auto tag = static_cast<std::uint16_t>(e.tag & ~domains::state_tag_delete_bit);
        if (tag != domains::state_tag_counters && tag >= tables.by_tag.size()) {
          inner = journal::Status(
              journal::ErrorCode::corrupt, 0,
              "a state entry for table " + std::to_string(tag) + " this domain does not have");
          return;
        }
        const journal::TableId table =
            tag == domains::state_tag_counters ? tables.counters : tables.by_tag[tag];
        if ((e.tag & domains::state_tag_delete_bit) != 0) {
          inner = view.del(table, e.key);
          if (inner.code() == journal::ErrorCode::not_found) inner = {};
        } else {
          std::byte* out = nullptr;
          inner = view.put_reserved(table, e.key, e.value_size, &out);
          if (inner.ok()) e.copy_value(out);
        }
      });
  return s.ok() ? inner : s;
}

Committer::Committer(journal::Env& journal, journal::Env& view, Transport& transport,
                     ViewTables tables, ipc::DomainStatus* status,
                     std::unique_ptr<StagedJournal> staged)
    : journal_(journal),
      view_(view),
      transport_(transport),
      tables_(std::move(tables)),
      status_(status),
      cursors_(journal.table(domains::cursors_table_name)),
      outputs_(transport.outputs().size()),
      inbox_(transport.inputs().size(), InboxEntry{}),
      inbox_next_(transport.inputs().size(), InboxEntry{}),
      out_last_(transport.outputs().size(), 0),
      staged_(std::move(staged)) {}

void Committer::resume(CommitterStart start) {
  FS_ASSERT(start.outbox.size() == outputs_.size());
  FS_ASSERT(start.inbox.size() == inbox_.size());
  for (std::size_t o = 0; o < outputs_.size(); ++o) {
    Output& out = outputs_[o];
    out.cursor = start.outbox[o];
    out.pending = std::move(start.resend[o]);
    out.head = 0;
    out.unacked.clear();
    if (!out.pending.empty())
      out.unacked.push_back({start.resend_batches[o], out.pending.back().header.sequence});
    backlog_.fetch_add(out.pending.size(), std::memory_order_relaxed);
  }
  inbox_ = std::move(start.inbox);
  journal_created_ns_ = start.journal_created_ns;
  // Recovery brought the view up to the journal's end: a first group with no journal value
  // must not write an older view position (the next start would replay the whole journal).
  last_view_sequence_ = journal_.next_sequence() - 1;
  viewed_batch_.store(start.viewed_batch, std::memory_order_release);
  published_batch_.store(start.viewed_batch, std::memory_order_release);
}

journal::Status Committer::write_journal(std::span<BatchBuffer* const> batches) {
  collect_cursors(batches);
  const std::int64_t t0 = mono_now_ns();
  journal::Status s = staged_ != nullptr ? stage(batches) : commit(batches);
  if (s.ok()) {
    inbox_ = inbox_next_;
    for (Output& out : outputs_) out.cursor = out.next;
  }
  if (status_ != nullptr) {
    status_->commit_ns_total.fetch_add(static_cast<std::uint64_t>(mono_now_ns() - t0),
                                       std::memory_order_relaxed);
    status_->commits.fetch_add(s.ok() ? 1 : 0, std::memory_order_relaxed);
    status_->commit_errors.fetch_add(s.ok() ? 0 : 1, std::memory_order_relaxed);
  }
  return s;
}

// sync and nosync: the batches and the cursors in one journal transaction.
journal::Status Committer::commit(std::span<BatchBuffer* const> batches) {
  journal::WriteTxn txn;
  journal::Status s = journal_.begin_write(txn);
  if (!s.ok()) return s;
  for (BatchBuffer* b : batches) {
    if (!b->has_journal()) continue;
    if (s = txn.append_batch(b->journal); !s.ok()) return s;
  }
  for (const CursorRow& row : cursor_rows_)
    if (s = txn.put(cursors_, row.key, row.value()); !s.ok()) return s;
  if (faults_ != nullptr)
    if (s = faults_->before_commit(false); !s.ok()) return s;
  return txn.commit();
}

// interval: the batches and the cursors to the staging log, into the journal when due.
journal::Status Committer::stage(std::span<BatchBuffer* const> batches) {
  std::vector<const journal::BatchBuilder*>& builders = staged_builders_;
  builders.clear();
  for (BatchBuffer* b : batches)
    if (b->has_journal()) builders.push_back(&b->journal);
  journal::BatchBuilder& entries = staged_entries_;
  entries.begin(1, 0);
  for (const CursorRow& row : cursor_rows_)
    entries.add_entry(journal::Section::state, 0, row.key, row.value());
  return staged_->append(builders, entries.view().state);
}

journal::Status Committer::sync_staged(bool now) {
  if (staged_ == nullptr) return {};
  if (now) return staged_->stop();
  staged_->poll(mono_now_ns());
  return {};
}

void Committer::collect_cursors(std::span<BatchBuffer* const> batches) {
  cursor_rows_.clear();
  const auto inputs = transport_.inputs();
  inbox_next_ = inbox_;
  for (Output& out : outputs_) out.next = out.cursor;
  for (std::size_t i = 0; i < inbox_.size(); ++i) {
    bool changed = false;
    InboxEntry entry = inbox_[i];
    for (const BatchBuffer* b : batches) {
      if (!b->inputs[i].applied) continue;
      entry = InboxEntry{inputs[i].from_port_edge() ? transport_.port_epoch() : 0,
                         b->inputs[i].last_sequence};
      changed = true;
    }
    if (!changed) continue;
    cursor_rows_.push_back(CursorRow::of(domains::cursor_kind_inbox, inputs[i].edge, entry));
    inbox_next_[i] = entry;
  }
  const auto outputs = transport_.outputs();
  for (std::size_t o = 0; o < outputs_.size(); ++o) {
    Output& out = outputs_[o];
    const std::uint64_t acked = std::min(transport_.acked(o), batches.back()->out_sequences[o]);
    while (!out.unacked.empty() && out.unacked.front().second <= acked) out.unacked.pop_front();
    std::uint64_t resend_from = out.unacked.empty() ? 0 : out.unacked.front().first;
    for (const BatchBuffer* b : batches) {
      if (resend_from != 0) break;
      for (const BatchBuffer::Send& send : b->sends)
        if (send.output == o && send.message.header.sequence > acked)
          resend_from = b->journal.first_sequence();
    }
    const OutboxCursor cursor{batches.back()->out_sequences[o], std::max(acked, out.cursor.acked),
                              resend_from, 0};
    if (std::memcmp(&cursor, &out.cursor, sizeof cursor) == 0) continue;
    cursor_rows_.push_back(CursorRow::of(domains::cursor_kind_outbox, outputs[o].edge, cursor));
    out.next = cursor;
  }
}

journal::Status Committer::write_view(std::span<BatchBuffer* const> batches) {
  journal::WriteTxn txn;
  journal::Status s = view_.begin_write(txn);
  if (!s.ok()) return s;
  std::uint64_t last_sequence = last_view_sequence_;
  for (BatchBuffer* b : batches) {
    if (!b->has_journal()) continue;
    if (s = apply_state(txn, tables_, b->journal.view()); !s.ok()) return s;
    last_sequence = b->journal.next_sequence() - 1;
  }
  const domains::ViewPosition position{last_sequence, batches.back()->id, journal_created_ns_, 0};
  s = txn.put_as(tables_.counters, journal::as_bytes(domains::view_position_key), position);
  if (!s.ok()) return s;
  if (faults_ != nullptr)
    if (s = faults_->before_commit(true); !s.ok()) return s;
  if (s = txn.commit(); !s.ok()) return s;
  last_view_sequence_ = last_sequence;
  viewed_batch_.store(batches.back()->id, std::memory_order_release);
  return {};
}

void Committer::note_unacked(BatchBuffer& batch) {
  std::fill(out_last_.begin(), out_last_.end(), 0);
  for (const BatchBuffer::Send& send : batch.sends)
    out_last_[send.output] = send.message.header.sequence;
  for (std::size_t o = 0; o < outputs_.size(); ++o)
    if (out_last_[o] != 0)
      outputs_[o].unacked.push_back({batch.journal.first_sequence(), out_last_[o]});
}

void Committer::publish(BatchBuffer& batch) {
  for (const domains::Effect& e : batch.effects) transport_.apply(e);
  for (const BatchBuffer::Send& send : batch.sends)
    outputs_[send.output].pending.push_back(send.message);
  backlog_.fetch_add(batch.sends.size(), std::memory_order_relaxed);
  note_unacked(batch);
  flush();
  std::uint64_t full = 0;
  for (const ipc::Message& r : batch.replies) full += transport_.reply(r) ? 0 : 1;
  const auto inputs = transport_.inputs();
  for (std::size_t i = 0; i < batch.inputs.size(); ++i) {
    const BatchBuffer::InputMark& mark = batch.inputs[i];
    if (!mark.moved) continue;
    transport_.release(i, mark.position, inputs[i].from_port_edge() ? 0 : mark.last_sequence);
  }
  if (status_ != nullptr) {
    status_->ring_full_events.fetch_add(full, std::memory_order_relaxed);
    status_->messages_in.fetch_add(batch.messages_in, std::memory_order_relaxed);
    status_->messages_invalid.fetch_add(batch.invalid, std::memory_order_relaxed);
    status_->messages_duplicate.fetch_add(batch.duplicate, std::memory_order_relaxed);
    status_->journal_records.fetch_add(batch.journal.record_count(), std::memory_order_relaxed);
  }
  published_batch_.store(batch.id, std::memory_order_release);
}

std::size_t Committer::flush() {
  std::size_t sent = 0;
  std::uint64_t full = 0;
  for (std::size_t o = 0; o < outputs_.size(); ++o) {
    Output& out = outputs_[o];
    if (out.head == out.pending.size()) continue;
    const std::span<const ipc::Message> rest(out.pending.data() + out.head,
                                             out.pending.size() - out.head);
    const std::size_t n = transport_.publish(o, rest);
    full += n < rest.size() ? 1 : 0;
    out.head += n;
    sent += n;
    if (out.head == out.pending.size()) {
      out.pending.clear();
      out.head = 0;
    } else if (out.head > out.pending.size() / 2) {
      out.pending.erase(out.pending.begin(),
                        out.pending.begin() + static_cast<std::ptrdiff_t>(out.head));
      out.head = 0;
    }
  }
  const std::size_t backlog = backlog_.fetch_sub(sent, std::memory_order_relaxed) - sent;
  if (status_ != nullptr) {
    status_->messages_out.fetch_add(sent, std::memory_order_relaxed);
    status_->outbox_backlog.store(backlog, std::memory_order_relaxed);
    status_->ring_full_events.fetch_add(full, std::memory_order_relaxed);
  }
  return sent;
}

}  // namespace flashsaga::runtime
