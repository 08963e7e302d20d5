#include "engine/runtime/recovery.h"

#include <algorithm>
#include <cstring>

#include "engine/base/assert.h"
#include "engine/base/clock.h"
#include "ipc/deployment.h"
#include "journal/batch.h"

namespace flashsaga::runtime {
namespace {

using domains::InboxEntry;
using domains::OutboxCursor;
using domains::ViewPosition;

journal::Status read_position(const journal::ReadTxn& txn, const ViewTables& tables,
                              ViewPosition& out) {
  out = ViewPosition{};
  journal::Status s =
      txn.get_as(tables.counters, journal::as_bytes(domains::view_position_key), out);
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
    s = read.batches(position.last_sequence + 1, recovery_view_batches_per_txn,
                     [&](const journal::BatchView& b) {
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
    if (s = txn.put_as(tables.counters, journal::as_bytes(domains::view_position_key), position);
        !s.ok())
      return s;
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
    const auto key = journal::key_u64_u64(domains::cursor_kind_inbox,
                                          static_cast<std::uint64_t>(inputs[i].edge));
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
    const auto key = journal::key_u64_u64(domains::cursor_kind_outbox,
                                          static_cast<std::uint64_t>(outputs[o].edge));
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
    if (c.last_sequence > c.acked && c.resend_from != 0)
      from = from == 0 ? c.resend_from : std::min(from, c.resend_from);
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

constexpr int saga_edges = 7;  // ipc/deployment.h: the saga edges come first

template <typename T>
journal::Status read_cursor(journal::Env& env, std::uint64_t kind, int edge, T& out, bool* found) {
  out = T{};
  journal::ReadTxn txn;
  journal::Status s = env.begin_read(txn);
  if (!s.ok()) return s;
  s = txn.get_as(env.table(domains::cursors_table_name),
                 journal::key_u64_u64(kind, static_cast<std::uint64_t>(edge)), out);
  *found = s.ok();
  return s.code() == journal::ErrorCode::not_found ? journal::Status{} : s;
}

// The journal batch holding the first message on `edge` after `applied` (0: none).
journal::Status first_batch_after(journal::Env& env, int edge, std::uint64_t applied,
                                  std::uint64_t& out) {
  out = 0;
  journal::ReadTxn txn;
  journal::Status s = env.begin_read(txn);
  if (!s.ok()) return s;
  journal::Status inner;
  s = txn.batches(1, SIZE_MAX, [&](const journal::BatchView& b) {
    inner = journal::for_each_entry(b, journal::Section::outbox, [&](const journal::Entry& e) {
      if (out != 0 || e.tag != static_cast<std::uint16_t>(edge) ||
          e.value_size != message_size_bytes)
        return;
      ipc::Message m{};
      e.copy_value(reinterpret_cast<std::byte*>(&m));
      if (m.header.sequence > applied) out = b.first_sequence;
    });
    return inner.ok() && out == 0;
  });
  return s.ok() ? inner : s;
}

journal::Status repair_one_edge(journal::Env& producer, journal::Env& consumer, EdgeRepair& r) {
  OutboxCursor out{};
  InboxEntry in{};
  bool have_out = false, have_in = false;
  journal::Status s = read_cursor(producer, domains::cursor_kind_outbox, r.edge, out, &have_out);
  if (s.ok()) s = read_cursor(consumer, domains::cursor_kind_inbox, r.edge, in, &have_in);
  if (!s.ok()) return s;
  r.producer_last = out.last_sequence;
  r.producer_acked = out.acked;
  r.consumer_applied = in.last_sequence;
  if (in.last_sequence > out.last_sequence) {
    r.skipped_ahead = true;
    out.last_sequence = in.last_sequence;
    out.acked = in.last_sequence;
    out.resend_from = 0;
  } else if (in.last_sequence < out.acked) {
    if (s = first_batch_after(producer, r.edge, in.last_sequence, r.resend_from); !s.ok()) return s;
    out.acked = in.last_sequence;
    if (r.resend_from != 0) out.resend_from = r.resend_from;
  } else {
    return {};
  }
  journal::WriteTxn txn;
  if (s = producer.begin_write(txn); !s.ok()) return s;
  const journal::TableId cursors = producer.table(domains::cursors_table_name);
  s = txn.put_as(
      cursors,
      journal::key_u64_u64(domains::cursor_kind_outbox, static_cast<std::uint64_t>(r.edge)), out);
  if (s.ok() && r.skipped_ahead) {
    const domains::EdgeSkip mark{
        static_cast<std::uint64_t>(r.edge), r.producer_last, r.consumer_applied,
        consumer.stats().last_sequence,     wall_now_ns(),   0};
    const auto key = static_cast<std::uint64_t>(mark.found_ns) + static_cast<std::uint64_t>(r.edge);
    s = txn.put_as(cursors, journal::key_u64_u64(domains::cursor_kind_edge_skip, key), mark);
  }
  return s.ok() ? txn.commit() : s;
}

}  // namespace

journal::Status repair_edges(const std::array<journal::Env*, 7>& journals, std::uint32_t ports,
                             std::vector<EdgeRepair>& out) {
  out.clear();
  for (int e = 0; e < saga_edges; ++e) {
    EdgeRepair r;
    r.edge = e;
    r.from = ipc::edge_from(e, ports).domain;
    r.to = ipc::edge_to(e, ports).domain;
    journal::Env* p = journals[static_cast<std::size_t>(r.from)];
    journal::Env* c = journals[static_cast<std::size_t>(r.to)];
    if (p == nullptr || c == nullptr) continue;
    if (journal::Status s = repair_one_edge(*p, *c, r); !s.ok()) return s;
    if (r.skipped_ahead || r.resend_from != 0 || r.consumer_applied < r.producer_acked)
      out.push_back(r);
  }
  return {};
}

journal::Status highest_order_id(journal::Env& journal, std::uint64_t& out) {
  out = 0;
  journal::ReadTxn txn;
  journal::Status s = journal.begin_read(txn);
  if (!s.ok()) return s;
  journal::Status inner;
  s = txn.batches(1, SIZE_MAX, [&](const journal::BatchView& b) {
    bool stopped = false;
    inner = journal::for_each_record(
        b, 0,
        [&](const journal::RecordView& r) {
          out = std::max(out, r.header.order_id);
          if (r.header.type == static_cast<std::uint16_t>(domains::RecordType::stock_reserved) &&
              r.payload.size() == sizeof(domains::Event)) {
            domains::Event e{};
            std::memcpy(&e, r.payload.data(), sizeof e);
            out = std::max(out, e.other);  // a bulk count: every order up to e.other
          }
          return true;
        },
        &stopped);
    return inner.ok();
  });
  return s.ok() ? inner : s;
}

journal::Status mark_lost_orders(journal::Env& order_journal, std::uint64_t first,
                                 std::uint64_t last) {
  const domains::LostOrders mark{first, last, wall_now_ns(), 0};
  journal::WriteTxn txn;
  journal::Status s = order_journal.begin_write(txn);
  if (!s.ok()) return s;
  s = txn.put_as(order_journal.table(domains::cursors_table_name),
                 journal::key_u64_u64(domains::cursor_kind_lost_orders,
                                      static_cast<std::uint64_t>(mark.found_ns)),
                 mark);
  return s.ok() ? txn.commit() : s;
}

namespace {

// The highest order id of every lost-orders mark in this journal (0: none).
journal::Status read_id_floor(journal::Env& journal, std::uint64_t& out) {
  out = 0;
  journal::ReadTxn txn;
  journal::Status s = journal.begin_read(txn);
  if (!s.ok()) return s;
  const auto from = journal::key_u64_u64(domains::cursor_kind_lost_orders, 0);
  journal::Status inner;
  s = txn.scan(journal.table(domains::cursors_table_name), from, SIZE_MAX,
               [&](journal::Bytes k, journal::Bytes v) {
                 if (k.size() != 16 || journal::u64_from_key(k) != domains::cursor_kind_lost_orders)
                   return false;
                 domains::LostOrders mark{};
                 if (v.size() == sizeof mark) std::memcpy(&mark, v.data(), sizeof mark);
                 out = std::max(out, mark.last);
                 return true;
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
  if (s = read_id_floor(journal, out.id_floor); !s.ok()) return s;
  if (out.id_floor != 0) logic.id_floor(out.id_floor);
  logic.stopped_at(journal.last_time_ns());
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
