#include "engine/runtime/recovery.h"

#include <algorithm>
#include <cstring>

#include "engine/base/assert.h"
#include "journal/batch.h"

namespace flashsaga::runtime {
namespace {

using domains::InboxEntry;
using domains::OutboxCursor;
using domains::ViewPosition;

journal::Status read_position(const journal::ReadTxn& txn, const ViewTables& tables, ViewPosition& out) {
  out = ViewPosition{};
  journal::Status s = txn.get_as(tables.counters, journal::as_bytes(domains::view_position_key), out);
  return s.code() == journal::ErrorCode::not_found ? journal::Status{} : s;
}

// Empties every view table (the view was built from another journal, or is ahead of it).
journal::Status reset_view(journal::Env& view, const ViewTables& tables) {
  journal::WriteTxn txn;
  journal::Status s = view.begin_write(txn);
  if (!s.ok()) return s;
  for (journal::TableId t : tables.by_tag)
    if (s = txn.clear(t); !s.ok()) return s;
  if (s = txn.clear(tables.counters); !s.ok()) return s;
  return txn.commit();
}

// Applies journal batches after `position` to the view, recovery_view_batches_per_txn at a time.
journal::Status catch_up_view(journal::Env& journal, journal::Env& view, const ViewTables& tables,
                              ViewPosition position, Recovered& out) {
  journal::ReadTxn read;
  journal::Status s = journal.begin_read(read);
  if (!s.ok()) return s;
  const std::uint64_t last = read.last_sequence();
  // Bounded: each round applies at least one batch or stops.
  for (std::uint64_t round = 0; position.last_sequence < last && round <= last; ++round) {
    journal::WriteTxn txn;
    if (s = view.begin_write(txn); !s.ok()) return s;
    journal::Status inner;
    std::uint64_t applied = 0;
    s = read.batches(position.last_sequence + 1, recovery_view_batches_per_txn, [&](const journal::BatchView& b) {
      inner = apply_state(txn, tables, b);
      if (!inner.ok()) return false;
      position.last_sequence = b.next_sequence() - 1;
      ++applied;
      return true;
    });
    if (!s.ok()) return s;
    if (!inner.ok()) return inner;
    if (applied == 0) break;
    out.view_batches_replayed += applied;
    if (s = txn.put_as(tables.counters, journal::as_bytes(domains::view_position_key), position); !s.ok()) return s;
    if (s = txn.commit(); !s.ok()) return s;
  }
  return {};
}

journal::Status prepare_view(journal::Env& journal, journal::Env& view, const ViewTables& tables,
                             Recovered& out, ViewPosition& position) {
  const std::int64_t created = journal.stats().created_ns;
  journal::Status s;
  {
    journal::ReadTxn txn;
    if (s = view.begin_read(txn); !s.ok()) return s;
    if (s = read_position(txn, tables, position); !s.ok()) return s;
  }
  const std::uint64_t last = journal.stats().last_sequence;
  const bool foreign = position.journal_created_ns != 0 && position.journal_created_ns != created;
  if (foreign || position.last_sequence > last) {
    if (s = reset_view(view, tables); !s.ok()) return s;
    position = ViewPosition{};
    out.view_rebuilt = true;
  }
  position.journal_created_ns = created;
  return catch_up_view(journal, view, tables, position, out);
}

journal::Status read_cursors(journal::Env& journal, Transport& transport, Recovered& out) {
  const journal::TableId cursors = journal.table(domains::cursors_table_name);
  journal::ReadTxn txn;
  journal::Status s = journal.begin_read(txn);
  if (!s.ok()) return s;
  const auto inputs = transport.inputs();
  out.committer.inbox.assign(inputs.size(), InboxEntry{});
  out.agent.last_applied.assign(inputs.size(), 0);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    InboxEntry e{};
    const auto key = journal::key_u64_u64(domains::cursor_kind_inbox, static_cast<std::uint64_t>(inputs[i].edge));
    s = txn.get_as(cursors, key, e);
    if (s.code() == journal::ErrorCode::not_found) continue;
    if (!s.ok()) return s;
    out.committer.inbox[i] = e;
    // Port edges' sequences restart with each shared-memory segment.
    const bool fresh = inputs[i].from_port_edge() && e.segment_id != transport.port_epoch();
    out.agent.last_applied[i] = fresh ? 0 : e.last_sequence;
  }
  const auto outputs = transport.outputs();
  out.committer.outbox.assign(outputs.size(), OutboxCursor{});
  out.agent.out_sequences.assign(outputs.size(), 0);
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    OutboxCursor c{};
    const auto key = journal::key_u64_u64(domains::cursor_kind_outbox, static_cast<std::uint64_t>(outputs[o].edge));
    s = txn.get_as(cursors, key, c);
    if (s.code() == journal::ErrorCode::not_found) continue;
    if (!s.ok()) return s;
    c.acked = std::max(c.acked, std::min(transport.acked(o), c.last_sequence));
    out.committer.outbox[o] = c;
    out.agent.out_sequences[o] = c.last_sequence;
  }
  return {};
}

// Queues every committed message its consumer has not acknowledged.
journal::Status find_resends(journal::Env& journal, Transport& transport, Recovered& out) {
  const auto outputs = transport.outputs();
  out.committer.resend.assign(outputs.size(), {});
  out.committer.resend_batches.assign(outputs.size(), 0);
  std::uint64_t from = 0;
  for (const OutboxCursor& c : out.committer.outbox)
    if (c.last_sequence > c.acked && c.resend_from != 0) from = from == 0 ? c.resend_from : std::min(from, c.resend_from);
  if (from == 0) return {};
  journal::ReadTxn txn;
  journal::Status s = journal.begin_read(txn);
  if (!s.ok()) return s;
  journal::Status inner;
  s = txn.batches(from, SIZE_MAX, [&](const journal::BatchView& b) {
    inner = journal::for_each_entry(b, journal::Section::outbox, [&](const journal::Entry& e) {
      for (std::size_t o = 0; o < outputs.size(); ++o) {
        if (e.tag != static_cast<std::uint16_t>(outputs[o].edge)) continue;
        ipc::Message m{};
        if (e.value_size != message_size_bytes) return;
        e.copy_value(reinterpret_cast<std::byte*>(&m));
        if (m.header.sequence <= out.committer.outbox[o].acked) return;
        if (out.committer.resend[o].empty()) out.committer.resend_batches[o] = b.first_sequence;
        out.committer.resend[o].push_back(m);
      }
    });
    return inner.ok();
  });
  return s.ok() ? inner : s;
}

}  // namespace

journal::Status recover(journal::Env& journal, journal::Env& view, const ViewTables& tables,
                        domains::DomainLogic& logic, Transport& transport, Recovered& out) {
  out = Recovered{};
  ViewPosition position{};
  journal::Status s = prepare_view(journal, view, tables, out, position);
  if (!s.ok()) return s;
  {
    journal::ReadTxn txn;
    if (s = view.begin_read(txn); !s.ok()) return s;
    if (s = read_position(txn, tables, position); !s.ok()) return s;
    if (s = logic.load(view, txn); !s.ok()) return s;
  }
  if (s = read_cursors(journal, transport, out); !s.ok()) return s;
  if (s = find_resends(journal, transport, out); !s.ok()) return s;
  out.agent.next_record_sequence = journal.next_sequence();
  out.agent.last_record_time_ns = journal.last_time_ns();
  out.agent.last_batch_id = position.batch_id;
  out.committer.viewed_batch = position.batch_id;
  out.committer.journal_created_ns = journal.stats().created_ns;
  return {};
}

}  // namespace flashsaga::runtime
