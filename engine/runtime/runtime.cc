#include "engine/runtime/runtime.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "domains/journal_open.h"
#include "engine/base/assert.h"
#include "engine/base/clock.h"

namespace flashsaga::runtime {
namespace {

using domains::Event;
using domains::InboxEntry;
using domains::RecordType;
using domains::StockDelta;
using ipc::Domain;
using ipc::Message;
using ipc::Node;

constexpr std::uint32_t commit_attempts_max = 4;       // map_full: grow and retry, at most
constexpr std::int64_t degraded_backoff_ns = 200'000'000;
constexpr std::size_t prune_count_max = 4096;          // outbox deletions per batch

void log_line(Domain self, const std::string& text) {
  std::fprintf(stderr, "flashsaga %s[%d]: %s\n", std::string(ipc::domain_name(self)).c_str(),
               static_cast<int>(::getpid()), text.c_str());
}

}  // namespace

// --- Runtime -----------------------------------------------------------------------------------

struct Runtime::Input {
  int edge = -1;
  Node from;
  ipc::RingConsumer consumer;
  bool from_port = false;
  std::uint64_t last_sequence = 0;
  std::uint64_t last_sequence_before = 0;  // rollback point if the batch aborts
  std::size_t taken = 0;
  bool dirty = false;
  bool warned_invalid = false;
};

struct Runtime::Output {
  int edge = -1;
  Domain to = Domain::none;
  ipc::RingProducer producer;
  std::uint64_t next_sequence = 0;  // last sequence assigned
  std::uint64_t next_sequence_before = 0;
  std::uint64_t pruned_upto = 0;    // outbox entries <= this are deleted
  std::uint64_t pruned_upto_before = 0;
  std::deque<Message> pending;      // committed, not yet in the ring (bounded: outbox_pending_max)
  bool dirty = false;
};

Runtime::Runtime(const RuntimeOptions& options, ipc::Deployment& deployment, journal::Env& env,
                 DomainLogic& logic)
    : options_(options), deployment_(deployment), env_(env), logic_(logic), self_(logic.domain()) {
  const Node self = ipc::domain_node(self_);
  for (int e = 0; e < deployment_.edge_count(); ++e) {
    const Node from = deployment_.edge_from(e);
    const Node to = deployment_.edge_to(e);
    if (to == self) {
      Input in;
      in.edge = e;
      in.from = from;
      in.from_port = from.domain == Domain::port;
      in.consumer = ipc::RingConsumer(deployment_.ring(from, to));
      inputs_.push_back(std::move(in));
    } else if (from == self && to.domain != Domain::port) {
      Output out;
      out.edge = e;
      out.to = to.domain;
      out.producer = ipc::RingProducer(deployment_.ring(from, to), &deployment_.doorbell(to));
      outputs_.push_back(std::move(out));
    }
  }
  for (std::uint32_t p = 0; p < deployment_.geometry().ports; ++p) {
    const Node port = ipc::port_node(p);
    reply_producers_.emplace_back(deployment_.ring(self, port), &deployment_.doorbell(port));
  }
  t_counters_ = env_.table("counters");
  t_inbox_ = env_.table("inbox");
  t_outseq_ = env_.table("outseq");
  t_outbox_ = env_.table("outbox");
}

Runtime::~Runtime() = default;

ipc::DomainStatus& Runtime::status() noexcept { return deployment_.status(self_); }

void Runtime::open_peers() {
  for (Domain d : logic_.peers()) {
    bool have = false;
    for (auto& [domain, env] : peer_envs_) have = have || (domain == d && env);
    if (have) continue;
    std::unique_ptr<journal::Env> env;
    journal::Status s = domains::open_journal_read_only(options_.data_dir, d, env);
    if (!s.ok()) continue;  // the peer has not created its journal yet: retried next batch
    peer_envs_.emplace_back(d, std::move(env));
  }
}

bool Runtime::recover(std::string* error) {
  // A predecessor killed while degraded left its bit set; this process finds out for itself.
  deployment_.control().degraded_domains.fetch_and(~(1u << static_cast<unsigned>(self_)), std::memory_order_seq_cst);
  open_peers();
  journal::ReadTxn txn;
  journal::Status s = env_.begin_read(txn);
  if (!s.ok()) {
    *error = "cannot read journal: " + s.message();
    return false;
  }
  const std::int64_t segment = deployment_.segment_id();
  for (Input& in : inputs_) {
    InboxEntry entry{};
    s = txn.get_as(t_inbox_, journal::key_u64(static_cast<std::uint64_t>(in.edge)), entry);
    if (!s.ok() && s.code() != journal::ErrorCode::not_found) {
      *error = "cannot read inbox: " + s.message();
      return false;
    }
    const bool fresh = !s.ok() || (in.from_port && entry.segment_id != segment);
    in.last_sequence = fresh ? 0 : entry.last_sequence;
  }
  for (Output& out : outputs_) {
    std::uint64_t seq = 0;
    s = txn.get_as(t_outseq_, journal::key_u64(static_cast<std::uint64_t>(out.edge)), seq);
    if (!s.ok() && s.code() != journal::ErrorCode::not_found) {
      *error = "cannot read outseq: " + s.message();
      return false;
    }
    out.next_sequence = s.ok() ? seq : 0;
    // Re-send what the consumer has not acknowledged. The ring may still hold some of it (the
    // segment outlived us); the consumer drops those duplicates by sequence.
    const std::uint64_t acked = out.producer.ring().load_acked();
    out.pruned_upto = 0;
    out.pending.clear();
    const auto from = journal::key_u64_u64(static_cast<std::uint64_t>(out.edge), acked + 1);
    s = txn.scan(t_outbox_, from, outbox_pending_max, [&](journal::Bytes key, journal::Bytes value) {
      if (journal::u64_from_key(key, 0) != static_cast<std::uint64_t>(out.edge)) return false;
      Message m;
      if (!journal::from_bytes(value, m)) return true;  // cannot happen: we wrote it
      out.pending.push_back(m);
      return true;
    });
    if (!s.ok()) {
      *error = "cannot read outbox: " + s.message();
      return false;
    }
  }
  s = logic_.recover(env_, txn);
  if (!s.ok()) {
    *error = "recovery failed: " + s.message();
    return false;
  }
  txn = journal::ReadTxn();
  publish_pending();
  return true;
}

bool Runtime::any_input_readable() {
  for (Input& in : inputs_)
    if (in.consumer.readable() > 0) return true;
  return false;
}

bool Runtime::outputs_backed_up() const {
  // One batch can add at most drain_count_max * inputs messages to an edge; stop taking input
  // before the in-memory outbox could pass its bound.
  const std::size_t headroom = static_cast<std::size_t>(drain_count_max) * (inputs_.size() + 1);
  for (const Output& out : outputs_)
    if (out.pending.size() + headroom > outbox_pending_max) return true;
  return false;
}

std::size_t Runtime::publish_pending() {
  std::size_t published = 0;
  std::uint64_t backlog = 0;
  for (Output& out : outputs_) {
    std::size_t rounds = 0;
    while (!out.pending.empty() && rounds++ < outbox_pending_max) {
      if (!out.producer.try_publish(out.pending.front())) {
        status().ring_full_events.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      out.pending.pop_front();
      ++published;
    }
    backlog += out.pending.size();
  }
  status().outbox_backlog.store(backlog, std::memory_order_relaxed);
  status().messages_out.fetch_add(published, std::memory_order_relaxed);
  return published;
}

journal::Status Runtime::prune_outbox(journal::WriteTxn& txn) {
  std::size_t budget = prune_count_max;
  for (Output& out : outputs_) {
    const std::uint64_t acked = std::min(out.producer.ring().load_acked(), out.next_sequence);
    if (out.pruned_upto == 0 && acked > 0) {
      // First prune since start: find the oldest entry instead of walking from 1.
      const auto from = journal::key_u64_u64(static_cast<std::uint64_t>(out.edge), 0);
      std::uint64_t oldest = acked + 1;
      journal::Status s = txn.scan(t_outbox_, from, 1, [&](journal::Bytes key, journal::Bytes) {
        if (journal::u64_from_key(key, 0) == static_cast<std::uint64_t>(out.edge))
          oldest = journal::u64_from_key(key, 8);
        return false;
      });
      if (!s.ok()) return s;
      out.pruned_upto = oldest - 1;
    }
    while (out.pruned_upto < acked && budget > 0) {
      const std::uint64_t seq = out.pruned_upto + 1;
      journal::Status s = txn.del(t_outbox_, journal::key_u64_u64(static_cast<std::uint64_t>(out.edge), seq));
      if (!s.ok() && s.code() != journal::ErrorCode::not_found) return s;
      out.pruned_upto = seq;
      --budget;
    }
  }
  return {};
}

journal::Status Runtime::run_batch(std::size_t* consumed, std::size_t* ticked) {
  *consumed = 0;
  *ticked = 0;
  const std::int64_t now = wall_now_ns();
  std::size_t available = 0;
  const bool take_input = logic_.before_batch() && !outputs_backed_up();
  for (Input& in : inputs_) {
    in.taken = take_input ? std::min<std::size_t>(in.consumer.readable(), drain_count_max) : 0;
    available += in.taken;
  }
  bool prune_due = false;
  for (const Output& out : outputs_)
    prune_due = prune_due || out.producer.ring().load_acked() >= out.pruned_upto + prune_count_max / 4;
  if (available == 0 && !logic_.tick_due(now) && !prune_due) return {};

  open_peers();
  for (Input& in : inputs_) {
    in.last_sequence_before = in.last_sequence;
    in.dirty = false;
  }
  for (Output& out : outputs_) {
    out.next_sequence_before = out.next_sequence;
    out.pruned_upto_before = out.pruned_upto;
    out.dirty = false;
  }

  journal::WriteTxn txn;
  journal::Status s = env_.begin_write(txn);
  if (!s.ok()) return s;
  peer_txns_.clear();
  for (auto& [d, env] : peer_envs_) {
    journal::ReadTxn rt;
    if (env->begin_read(rt).ok()) peer_txns_.emplace_back(d, std::move(rt));
  }
  batch_.begin(txn, now);
  for (auto& [d, rt] : peer_txns_)
    for (auto& [pd, penv] : peer_envs_)
      if (pd == d) batch_.set_peer(d, penv.get(), &rt);

  const std::int64_t segment = deployment_.segment_id();
  std::uint64_t invalid = 0, duplicate = 0;
  for (Input& in : inputs_) {
    for (std::size_t k = 0; k < in.taken; ++k) {
      const Message& m = in.consumer.peek(k);
      const ipc::MessageError err = ipc::validate(m);
      if (err != ipc::MessageError::ok) {
        ++invalid;
        Event ev{};
        ev.subject = static_cast<std::uint64_t>(in.edge);
        ev.other = m.header.type;
        ev.amount = static_cast<std::int64_t>(in.consumer.ring().depth());
        ev.extra = static_cast<std::int64_t>(k);
        ev.reason = static_cast<std::uint8_t>(err);
        s = batch_.record(RecordType::message_invalid, 0, ev);
        if (!s.ok()) goto failed;
        if (!in.warned_invalid) {
          in.warned_invalid = true;
          log_line(self_, "set aside an invalid message from edge " + std::to_string(in.edge) + " at batch offset " +
                              std::to_string(k) + ": " + std::string(ipc::message_error_name(err)) +
                              " (further ones on this edge are counted, not logged)");
        }
        continue;
      }
      if (m.header.sequence <= in.last_sequence) {
        ++duplicate;
        continue;
      }
      s = logic_.apply(batch_, m);
      if (!s.ok()) goto failed;
      in.last_sequence = m.header.sequence;
      in.dirty = true;
    }
  }
  s = logic_.tick(batch_, ticked);
  if (!s.ok()) goto failed;

  for (Batch::Send& send : batch_.sends()) {
    Output* out = nullptr;
    for (Output& o : outputs_)
      if (o.to == send.to) out = &o;
    FS_ASSERT(out != nullptr);
    send.message.header.sequence = ++out->next_sequence;
    ipc::seal(send.message);
    out->dirty = true;
    s = txn.put(t_outbox_, journal::key_u64_u64(static_cast<std::uint64_t>(out->edge), out->next_sequence),
                journal::as_bytes(send.message));
    if (!s.ok()) goto failed;
  }
  for (Input& in : inputs_) {
    if (!in.dirty) continue;
    const InboxEntry entry{in.from_port ? segment : 0, in.last_sequence};
    s = txn.put_as(t_inbox_, journal::key_u64(static_cast<std::uint64_t>(in.edge)), entry);
    if (!s.ok()) goto failed;
  }
  for (Output& out : outputs_) {
    if (!out.dirty) continue;
    s = txn.put_as(t_outseq_, journal::key_u64(static_cast<std::uint64_t>(out.edge)), out.next_sequence);
    if (!s.ok()) goto failed;
  }
  s = prune_outbox(txn);
  if (!s.ok()) goto failed;

  {
    const std::int64_t t0 = mono_now_ns();
    s = txn.commit();
    const std::int64_t t1 = mono_now_ns();
    status().commit_ns_total.fetch_add(static_cast<std::uint64_t>(t1 - t0), std::memory_order_relaxed);
  }
  if (!s.ok()) goto failed;
  peer_txns_.clear();

  // Committed: now, and only now, let the batch's effects leave the process.
  status().commits.fetch_add(1, std::memory_order_relaxed);
  status().messages_invalid.fetch_add(invalid, std::memory_order_relaxed);
  status().messages_duplicate.fetch_add(duplicate, std::memory_order_relaxed);
  logic_.committed();
  for (const StockDelta& d : batch_.deltas()) {
    ipc::StockSlot& slot = deployment_.stock(d.product_id);
    slot.available.fetch_add(d.available_delta, std::memory_order_acq_rel);
  }
  for (Batch::Send& send : batch_.sends())
    for (Output& o : outputs_)
      if (o.to == send.to) o.pending.push_back(send.message);
  for (Message& r : batch_.replies()) {
    r.header.sequence = ++reply_sequence_;
    ipc::seal(r);
    if (r.header.port >= reply_producers_.size() || !reply_producers_[r.header.port].try_publish(r))
      status().ring_full_events.fetch_add(1, std::memory_order_relaxed);  // the port retries
  }
  for (Input& in : inputs_) {
    if (in.taken == 0) continue;
    *consumed += in.taken;
    in.consumer.release(in.taken);
    if (!in.from_port) {
      ipc::SpscRing ring = in.consumer.ring();  // a view: copying it is free
      ring.store_acked(in.last_sequence);
    }
  }
  status().messages_in.fetch_add(*consumed, std::memory_order_relaxed);
  return {};

failed:
  // Nothing of the batch happened: roll back what we advanced in memory and rebuild the
  // logic's caches from the last commit.
  txn.abort();
  peer_txns_.clear();
  for (Input& in : inputs_) in.last_sequence = in.last_sequence_before;
  for (Output& out : outputs_) {
    out.next_sequence = out.next_sequence_before;
    out.pruned_upto = out.pruned_upto_before;
  }
  status().commit_errors.fetch_add(1, std::memory_order_relaxed);
  {
    journal::ReadTxn rt;
    if (env_.begin_read(rt).ok()) {
      journal::Status rs = logic_.recover(env_, rt);
      if (!rs.ok()) log_line(self_, "recovery after an aborted batch failed: " + rs.message());
    }
  }
  return s;
}

std::size_t Runtime::do_work() {
  const std::int64_t now_mono = mono_now_ns();
  status().heartbeat_ns.store(now_mono, std::memory_order_relaxed);
  std::size_t work = publish_pending();
  if (now_mono < backoff_until_ns_) return work;
  for (std::uint32_t attempt = 0; attempt < commit_attempts_max; ++attempt) {
    std::size_t consumed = 0, ticked = 0;
    journal::Status s = run_batch(&consumed, &ticked);
    if (s.ok()) {
      if (degraded_) {
        log_line(self_, "commits succeed again; leaving degraded state, intake reopens");
        set_degraded(false);
      }
      return work + consumed + ticked + publish_pending();
    }
    if (s.code() == journal::ErrorCode::map_full) {
      journal::Status g = env_.grow();
      if (g.ok()) continue;  // retry the same batch in a bigger map
      s = g;
    }
    if (!degraded_) {
      log_line(self_, "cannot commit (" + std::string(journal::error_code_name(s.code())) + ": " + s.message() +
                          "); order intake paused, inputs stay in their rings; retrying");
      set_degraded(true);
    }
    backoff_until_ns_ = mono_now_ns() + degraded_backoff_ns;
    return work;
  }
  return work;
}

void Runtime::set_degraded(bool degraded) {
  degraded_ = degraded;
  const std::uint32_t bit = 1u << static_cast<unsigned>(self_);
  std::atomic<std::uint32_t>& mask = deployment_.control().degraded_domains;
  if (degraded) {
    mask.fetch_or(bit, std::memory_order_seq_cst);
  } else {
    mask.fetch_and(~bit, std::memory_order_seq_cst);
  }
  status().state.store(static_cast<std::uint32_t>(degraded ? ipc::DomainState::degraded : ipc::DomainState::ready),
                       std::memory_order_release);
}

void Runtime::run(const std::atomic<bool>& stop) {
  ipc::Doorbell& bell = deployment_.doorbell(ipc::domain_node(self_));
  const std::function<bool()> has_work = [this] {
    if (any_input_readable()) return true;
    if (logic_.tick_due(wall_now_ns())) return true;
    for (Output& out : outputs_)
      if (!out.pending.empty() && out.producer.free_slots() > 0) return true;
    return false;
  };
  while (!stop.load(std::memory_order_acquire)) {
    const std::size_t work = do_work();
    const std::int64_t due = logic_.next_due_ns();
    std::int64_t park = park_ns_max;
    if (due != INT64_MAX) park = std::clamp<std::int64_t>(due - wall_now_ns(), 1'000, park_ns_max);
    idle_.idle(work, bell, has_work, park);
  }
  // Drain what is already in our rings so a graceful stop leaves nothing half-done.
  for (std::uint32_t round = 0; round < 64; ++round)
    if (do_work() == 0) break;
}

}  // namespace flashsaga::runtime
