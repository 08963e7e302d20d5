#include "engine/runtime/agent.h"
#include "engine/runtime/log.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "engine/base/assert.h"

namespace flashsaga::runtime {
namespace {

using domains::Event;
using domains::RecordType;
using ipc::Domain;
using ipc::Message;

// An outgoing message as an outbox entry: the whole 256 bytes (the entry stores them without
// the zero tail, which most bodies have).
journal::Bytes stored_message(const Message& m) noexcept {
  return journal::Bytes(reinterpret_cast<const std::byte*>(&m), sizeof m);
}

}  // namespace

void log_line(Domain self, const std::string& text) {
  std::fprintf(stderr, "flashsaga %s[%d]: %s\n", std::string(ipc::domain_name(self)).c_str(),
               static_cast<int>(::getpid()), text.c_str());
}

Agent::Agent(domains::DomainLogic& logic, Transport& transport, const journal::Env* own_view,
             PeerViews* peers, std::uint32_t drain_count_max)
    : logic_(logic),
      transport_(transport),
      own_view_(own_view),
      peers_(peers),
      drain_count_max_(drain_count_max),
      self_(logic.domain()),
      peer_domains_(logic.peers()),
      inputs_(transport.inputs().size()),
      counts_(transport.inputs().size(), 0),
      out_sequences_(transport.outputs().size(), 0),
      output_of_domain_(domain_count + 2, -1),
      peer_txns_(peer_domains_.size()) {
  FS_ASSERT(drain_count_max_ >= 1);
  const auto outputs = transport.outputs();
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    const auto d = static_cast<std::size_t>(outputs[o].to);
    FS_ASSERT(d < output_of_domain_.size());
    output_of_domain_[d] = static_cast<int>(o);
  }
}

void Agent::resume(const AgentStart& start) {
  FS_ASSERT(start.last_applied.size() == inputs_.size());
  FS_ASSERT(start.out_sequences.size() == out_sequences_.size());
  FS_ASSERT(start.next_record_sequence >= 1);
  next_record_sequence_ = start.next_record_sequence;
  last_record_time_ns_ = start.last_record_time_ns;
  batch_id_ = start.last_batch_id;
  for (std::size_t i = 0; i < inputs_.size(); ++i) inputs_[i].last_applied = start.last_applied[i];
  out_sequences_ = start.out_sequences;
}

bool Agent::has_work(std::int64_t mono_ns) {
  for (std::size_t i = 0; i < inputs_.size(); ++i)
    if (transport_.readable(i) > 0) return true;
  return logic_.tick_due(mono_ns);
}

std::size_t Agent::run_batch(BatchBuffer& out, std::uint64_t viewed_batch, bool take_input,
                             std::int64_t now_ns, std::int64_t mono_ns, bool* filled) {
  *filled = false;
  std::size_t available = 0;
  for (std::size_t i = 0; i < inputs_.size(); ++i) {
    counts_[i] = take_input ? std::min<std::size_t>(transport_.readable(i), drain_count_max_) : 0;
    available += counts_[i];
  }
  if (available == 0 && !logic_.tick_due(mono_ns)) return 0;

  out.clear(inputs_.size(), out_sequences_.size());
  out.id = batch_id_ + 1;
  out.journal.begin(next_record_sequence_, std::max(now_ns, last_record_time_ns_ + 1));
  begin_reads(out, viewed_batch, now_ns, mono_ns);
  std::size_t work = 0;
  for (std::size_t i = 0; i < inputs_.size(); ++i) work += consume(out, i, counts_[i]);
  work += logic_.tick(batch_);
  logic_.end_batch(batch_);
  seal_outputs(out, now_ns);
  std::swap(out.effects, batch_.effects());
  end_reads();

  bool moved = false;
  for (const BatchBuffer::InputMark& mark : out.inputs) moved = moved || mark.moved;
  const bool changed = !out.journal.empty() || !out.replies.empty() || !out.effects.empty();
  if (!moved && !changed) return work;  // timed work that found nothing to do
  if (!out.has_journal() && !out.journal.empty()) {
    // State or outbox entries travel in a journal value, which holds at least one record.
    out.journal.add_record(static_cast<std::uint16_t>(RecordType::batch_note), 0, {});
  }
  batch_id_ = out.id;
  next_record_sequence_ = out.journal.next_sequence();
  if (out.has_journal()) last_record_time_ns_ = out.journal.last_time_ns();
  *filled = true;
  return work;
}

void Agent::begin_reads(BatchBuffer& out, std::uint64_t viewed_batch, std::int64_t now_ns,
                        std::int64_t mono_ns) {
  // Rows the view has not applied yet stay in the tables' memory, so a snapshot taken after
  // the tables learnt how far the view is never shows a row older than memory.
  logic_.viewed(viewed_batch);
  const journal::ReadTxn* own = nullptr;
  if (own_view_ != nullptr && own_view_->begin_read(own_txn_).ok()) own = &own_txn_;
  batch_.begin(out.journal, out.id, now_ns, viewed_batch, own);
  batch_.set_mono_ns(mono_ns);
  for (std::size_t p = 0; p < peer_domains_.size(); ++p) {
    const journal::Env* env = peers_ != nullptr ? peers_->open(peer_domains_[p]) : nullptr;
    const bool ok = env != nullptr && env->begin_read(peer_txns_[p]).ok();
    batch_.set_peer(peer_domains_[p], ok ? env : nullptr, ok ? &peer_txns_[p] : nullptr);
  }
}

void Agent::end_reads() {
  own_txn_ = journal::ReadTxn();
  for (journal::ReadTxn& t : peer_txns_) t = journal::ReadTxn();
}

std::size_t Agent::consume(BatchBuffer& out, std::size_t input, std::size_t count) {
  BatchBuffer::InputMark& mark = out.inputs[input];
  Input& in = inputs_[input];
  for (std::size_t k = 0; k < count; ++k) {
    const Message& m = transport_.peek(input, k);
    const ipc::MessageError err = ipc::validate(m);
    if (err != ipc::MessageError::ok) {
      ++out.invalid;
      set_aside(input, k, m, err);
      continue;
    }
    if (m.header.sequence <= in.last_applied) {
      ++out.duplicate;
      continue;
    }
    logic_.apply(batch_, m);
    in.last_applied = m.header.sequence;
    mark.applied = true;
  }
  if (count > 0) transport_.advance(input, count);
  mark.moved = count > 0;
  mark.position = transport_.read_position(input);
  mark.last_sequence = in.last_applied;
  out.messages_in += count;
  return count;
}

void Agent::set_aside(std::size_t input, std::size_t offset, const Message& m,
                      ipc::MessageError err) {
  const int edge = transport_.inputs()[input].edge;
  Event ev{};
  ev.subject = static_cast<std::uint64_t>(edge);
  ev.other = m.header.type;
  ev.amount = static_cast<std::int64_t>(transport_.readable(input));
  ev.extra = static_cast<std::int64_t>(offset);
  ev.reason = static_cast<std::uint8_t>(err);
  batch_.record(RecordType::message_invalid, 0, ev);
  Input& in = inputs_[input];
  if (in.warned_invalid) return;
  in.warned_invalid = true;
  log_line(self_, "set aside an invalid message from edge " + std::to_string(edge) +
                      " at batch offset " + std::to_string(offset) + ": " +
                      std::string(ipc::message_error_name(err)) +
                      " (further ones on this edge are counted, not logged)");
}

void Agent::seal_outputs(BatchBuffer& out, std::int64_t now_ns) {
  const auto outputs = transport_.outputs();
  for (domains::Batch::Send& send : batch_.sends()) {
    const int o = output_of_domain_[static_cast<std::size_t>(send.to)];
    FS_ASSERT(o >= 0);  // a domain sends only along its own edges
    Message& m = send.message;
    m.header.sequence = ++out_sequences_[static_cast<std::size_t>(o)];
    m.header.timestamp_ns = now_ns;
    ipc::seal(m);
    out.sends.push_back({static_cast<std::uint16_t>(o), m});
    out.journal.add_entry(journal::Section::outbox,
                          static_cast<std::uint16_t>(outputs[static_cast<std::size_t>(o)].edge), {},
                          stored_message(m));
  }
  for (Message& r : batch_.replies()) {
    r.header.sequence = ++reply_sequence_;
    r.header.timestamp_ns = now_ns;
    ipc::seal(r);
    out.replies.push_back(r);
  }
  out.out_sequences = out_sequences_;
}

}  // namespace flashsaga::runtime
