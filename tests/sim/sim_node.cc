#include "tests/sim/sim_node.h"

#include <algorithm>

#include "domains/rows.h"
#include "engine/base/assert.h"

namespace flashsaga::sim {
namespace {

using ipc::Domain;
using ipc::Message;
using ipc::Node;

// The same bounds as engine/runtime/runtime.cc.
constexpr std::uint32_t commit_attempts_max = 4;
constexpr std::size_t prune_count_max = 4096;

using ipc::domain_node;
using ipc::port_node;

journal::Options env_options(Domain d, const std::filesystem::path& data_dir) {
  journal::Options o;
  o.dir = data_dir / std::string(ipc::domain_name(d));
  o.domain = std::string(ipc::domain_name(d));
  o.durability = journal::Durability::nosync;
  // Small: a seed writes a few hundred KiB. The map grows on map_full like the runtime's.
  o.map_size_bytes = std::size_t{1} << 20;
  o.map_size_max_bytes = std::size_t{256} << 20;
  o.space_reserve_bytes = std::size_t{256} << 10;  // on tmpfs a reservation is real memory
  o.tables = domains::all_tables(d);
  return o;
}

}  // namespace

std::string_view crash_point_name(CrashPoint p) noexcept {
  switch (p) {
    case CrashPoint::none: return "none";
    case CrashPoint::before_commit: return "before_commit";
    case CrashPoint::after_commit: return "after_commit";
    case CrashPoint::before_release: return "before_release";
    case CrashPoint::before_publish: return "before_publish";
    case CrashPoint::mid_publish: return "mid_publish";
  }
  return "unknown";
}

// --- Edges -------------------------------------------------------------------------------------

Network::Network() {
  FS_ASSERT(edge_count == ipc::edge_count(deployment_ports));
  for (int e = 0; e < edge_count; ++e) {
    edges[e].index = e;
    edges[e].from = edge_from(e);
    edges[e].to = edge_to(e);
  }
}

Edge& Network::edge(Node from, Node to) {
  const int e = edge_index(from, to);
  FS_ASSERT(e >= 0);
  return edges[static_cast<std::size_t>(e)];
}

// --- SimNode -----------------------------------------------------------------------------------

SimNode::SimNode(Domain domain, std::filesystem::path data_dir, Factory factory, Network& net)
    : domain_(domain), dir_(std::move(data_dir)), factory_(std::move(factory)), net_(net) {
  const Node self = domain_node(domain_);
  for (int e = 0; e < edge_count; ++e) {
    const Node from = edge_from(e);
    const Node to = edge_to(e);
    if (to == self) {
      Input in;
      in.edge = e;
      in.from_port = from.domain == Domain::port;
      inputs_.push_back(in);
      input_edges_.push_back(e);
    } else if (from == self && to.domain != Domain::port) {
      Output out;
      out.edge = e;
      out.to = to.domain;
      outputs_.push_back(std::move(out));
    }
  }
}

SimNode::~SimNode() { crash(); }

void SimNode::crash() {
  logic_.reset();
  env_.reset();
  for (Output& out : outputs_) out.pending.clear();  // memory of a dead process
}

std::uint64_t SimNode::input_position(int edge) const {
  for (const Input& in : inputs_)
    if (in.edge == edge) return in.last_sequence;
  return 0;
}

std::string SimNode::restart(const std::array<SimNode*, domain_count + 1>& nodes) {
  (void)nodes;
  crash();
  ++restarts_;
  journal::Status s = journal::Env::open(env_options(domain_, dir_), env_);
  if (!s.ok()) return "cannot open journal: " + s.message();
  logic_ = factory_();
  FS_ASSERT(logic_ && logic_->domain() == domain_);
  t_inbox_ = env_->table("inbox");
  t_outseq_ = env_->table("outseq");
  t_outbox_ = env_->table("outbox");

  journal::ReadTxn txn;
  if (s = env_->begin_read(txn); !s.ok()) return "cannot read journal: " + s.message();
  for (Input& in : inputs_) {
    domains::InboxEntry entry{};
    s = txn.get_as(t_inbox_, journal::key_u64(static_cast<std::uint64_t>(in.edge)), entry);
    if (!s.ok() && s.code() != journal::ErrorCode::not_found) return "cannot read inbox: " + s.message();
    const bool fresh = !s.ok() || (in.from_port && entry.segment_id != sim_segment_id);
    in.last_sequence = fresh ? 0 : entry.last_sequence;
  }
  for (Output& out : outputs_) {
    std::uint64_t seq = 0;
    s = txn.get_as(t_outseq_, journal::key_u64(static_cast<std::uint64_t>(out.edge)), seq);
    if (!s.ok() && s.code() != journal::ErrorCode::not_found) return "cannot read outseq: " + s.message();
    out.next_sequence = s.ok() ? seq : 0;
    // Re-send what the consumer has not acknowledged; the ring may still hold some of it and
    // the consumer drops those duplicates by sequence.
    const std::uint64_t acked = net_.edges[static_cast<std::size_t>(out.edge)].acked;
    out.pruned_upto = 0;
    out.pending.clear();
    const auto from = journal::key_u64_u64(static_cast<std::uint64_t>(out.edge), acked + 1);
    s = txn.scan(t_outbox_, from, outbox_pending_max, [&](journal::Bytes key, journal::Bytes value) {
      if (journal::u64_from_key(key, 0) != static_cast<std::uint64_t>(out.edge)) return false;
      Message m;
      if (!journal::from_bytes(value, m)) return true;
      out.pending.push_back(m);
      return true;
    });
    if (!s.ok()) return "cannot read outbox: " + s.message();
  }
  s = logic_->recover(*env_, txn);
  if (!s.ok()) return "recovery failed: " + s.message();
  txn = journal::ReadTxn();
  publish_pending();
  return {};
}

bool SimNode::outputs_backed_up() const {
  const std::size_t headroom = static_cast<std::size_t>(drain_count_max) * (inputs_.size() + 1);
  for (const Output& out : outputs_)
    if (out.pending.size() + headroom > outbox_pending_max) return true;
  return false;
}

std::size_t SimNode::publish_pending(std::size_t limit) {
  std::size_t published = 0;
  for (Output& out : outputs_) {
    Edge& edge = net_.edges[static_cast<std::size_t>(out.edge)];
    while (!out.pending.empty() && !edge.full() && published < limit) {
      edge.ring.push_back(out.pending.front());
      out.pending.pop_front();
      ++published;
    }
  }
  return published;
}

std::size_t SimNode::pending_out() const {
  std::size_t n = 0;
  for (const Output& out : outputs_) n += out.pending.size();
  return n;
}

bool SimNode::tick_due(std::int64_t now_ns) const { return logic_ && logic_->tick_due(now_ns); }

std::int64_t SimNode::next_due_ns() const { return logic_ ? logic_->next_due_ns() : INT64_MAX; }

bool SimNode::has_work(std::int64_t now_ns) const {
  if (!up()) return false;
  for (const Input& in : inputs_) {
    const Edge& e = net_.edges[static_cast<std::size_t>(in.edge)];
    if (!e.ring.empty() && e.delayed_until_ns <= now_ns) return true;
  }
  if (logic_->tick_due(now_ns)) return true;
  for (const Output& out : outputs_)
    if (net_.edges[static_cast<std::size_t>(out.edge)].acked >= out.pruned_upto + prune_count_max / 4) return true;
  return pending_out() > 0;
}

journal::Status SimNode::prune_outbox(journal::WriteTxn& txn) {
  std::size_t budget = prune_count_max;
  for (Output& out : outputs_) {
    const std::uint64_t acked = std::min(net_.edges[static_cast<std::size_t>(out.edge)].acked, out.next_sequence);
    if (out.pruned_upto == 0 && acked > 0) {
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

void SimNode::roll_back() {
  for (Input& in : inputs_) in.last_sequence = in.last_sequence_before;
  for (Output& out : outputs_) {
    out.next_sequence = out.next_sequence_before;
    out.pruned_upto = out.pruned_upto_before;
  }
  journal::ReadTxn rt;
  if (env_->begin_read(rt).ok()) {
    journal::Status rs = logic_->recover(*env_, rt);
    FS_ASSERT(rs.ok());
  }
}

BatchOutcome SimNode::run_batch(std::int64_t now_ns, const BatchPlan& plan,
                                const std::array<SimNode*, domain_count + 1>& nodes) {
  BatchOutcome out;
  if (!up()) return out;
  const bool take_input = logic_->before_batch() && !outputs_backed_up();
  std::size_t available = 0;
  for (Input& in : inputs_) {
    const Edge& e = net_.edges[static_cast<std::size_t>(in.edge)];
    const std::size_t want = std::min<std::size_t>(plan.take[static_cast<std::size_t>(in.edge)], drain_count_max);
    in.taken = take_input ? std::min(want, e.ring.size()) : 0;
    available += in.taken;
  }
  bool prune_due = false;
  for (const Output& o : outputs_)
    prune_due = prune_due || net_.edges[static_cast<std::size_t>(o.edge)].acked >= o.pruned_upto + prune_count_max / 4;
  const bool ticking = logic_->tick_due(now_ns);
  if (available == 0 && !ticking && !prune_due && plan.crash != CrashPoint::before_commit) return out;

  for (std::uint32_t attempt = 0; attempt < commit_attempts_max; ++attempt) {
    out = BatchOutcome{};
    out.ran = true;
    for (Input& in : inputs_) {
      in.last_sequence_before = in.last_sequence;
      in.dirty = false;
    }
    for (Output& o : outputs_) {
      o.next_sequence_before = o.next_sequence;
      o.pruned_upto_before = o.pruned_upto;
      o.dirty = false;
    }
    journal::WriteTxn txn;
    journal::Status s = env_->begin_write(txn);
    FS_ASSERT(s.ok());
    // Peers: a read snapshot of each journal this domain reads, taken at batch start.
    std::array<journal::ReadTxn, domain_count + 1> peer_txns;
    for (Domain d : logic_->peers()) {
      SimNode* peer = nodes[static_cast<std::size_t>(d)];
      if (peer == nullptr || !peer->up()) continue;
      if (!peer->env()->begin_read(peer_txns[static_cast<std::size_t>(d)]).ok()) continue;
    }
    batch_.begin(txn, now_ns);
    for (Domain d : logic_->peers()) {
      const auto i = static_cast<std::size_t>(d);
      batch_.set_peer(d, peer_txns[i].live() ? nodes[i]->env() : nullptr,
                      peer_txns[i].live() ? &peer_txns[i] : nullptr);
    }
    std::size_t ticked = 0;
    for (Input& in : inputs_) {
      const Edge& e = net_.edges[static_cast<std::size_t>(in.edge)];
      for (std::size_t k = 0; k < in.taken && s.ok(); ++k) {
        const Message& m = e.ring[k];
        // The simulator only carries sealed messages; a failing one is a simulator bug.
        FS_ASSERT(ipc::validate(m) == ipc::MessageError::ok);
        if (m.header.sequence <= in.last_sequence && !plan.skip_dedup) {
          ++out.duplicates;
          continue;
        }
        s = logic_->apply(batch_, m);
        if (!s.ok()) break;
        ++out.applied;
        in.last_sequence = std::max(in.last_sequence, m.header.sequence);
        in.dirty = true;
      }
      if (!s.ok()) break;
    }
    if (s.ok()) s = logic_->tick(batch_, &ticked);
    if (s.ok()) {
      for (domains::Batch::Send& send : batch_.sends()) {
        Output* o = nullptr;
        for (Output& candidate : outputs_)
          if (candidate.to == send.to) o = &candidate;
        FS_ASSERT(o != nullptr);
        send.message.header.sequence = ++o->next_sequence;
        ipc::seal(send.message);
        o->dirty = true;
        s = txn.put(t_outbox_, journal::key_u64_u64(static_cast<std::uint64_t>(o->edge), o->next_sequence),
                    journal::as_bytes(send.message));
        if (!s.ok()) break;
      }
    }
    for (Input& in : inputs_) {
      if (!s.ok()) break;
      if (!in.dirty) continue;
      const domains::InboxEntry entry{in.from_port ? sim_segment_id : 0, in.last_sequence};
      s = txn.put_as(t_inbox_, journal::key_u64(static_cast<std::uint64_t>(in.edge)), entry);
    }
    for (Output& o : outputs_) {
      if (!s.ok()) break;
      if (!o.dirty) continue;
      s = txn.put_as(t_outseq_, journal::key_u64(static_cast<std::uint64_t>(o.edge)), o.next_sequence);
    }
    if (s.ok()) s = prune_outbox(txn);
    if (s.ok() && plan.crash == CrashPoint::before_commit) {
      txn.abort();
      for (auto& t : peer_txns) t = journal::ReadTxn();
      out.crashed = true;
      crash();
      return out;
    }
    if (s.ok() && plan.fail_commit) s = journal::Status(journal::ErrorCode::io, 5, "simulated commit failure");
    if (s.ok()) s = txn.commit();
    for (auto& t : peer_txns) t = journal::ReadTxn();
    if (!s.ok()) {
      txn.abort();
      roll_back();
      if (s.code() == journal::ErrorCode::map_full && env_->grow().ok()) continue;  // retry bigger
      out.error = s.message();
      return out;  // inputs stay in their rings
    }
    out.committed = true;
    break;
  }
  if (!out.committed) return out;
  if (plan.crash == CrashPoint::after_commit) {
    out.crashed = true;
    crash();
    return out;
  }
  // Committed: now the batch's effects leave the process, in the runtime's order.
  logic_->committed();
  out.deltas = batch_.deltas();
  for (domains::Batch::Send& send : batch_.sends())
    for (Output& o : outputs_)
      if (o.to == send.to) o.pending.push_back(send.message);
  out.sent = batch_.sends().size();
  for (Message& r : batch_.replies()) {
    r.header.sequence = ++reply_sequence_;
    ipc::seal(r);
    out.replies.push_back(r);
  }
  if (plan.crash == CrashPoint::before_release) {
    out.crashed = true;
    crash();
    return out;
  }
  for (Input& in : inputs_) {
    if (in.taken == 0) continue;
    Edge& e = net_.edges[static_cast<std::size_t>(in.edge)];
    out.consumed += in.taken;
    e.ring.erase(e.ring.begin(), e.ring.begin() + static_cast<std::ptrdiff_t>(in.taken));
    if (!in.from_port) e.acked = in.last_sequence;
  }
  if (plan.crash == CrashPoint::before_publish) {
    out.crashed = true;
    crash();
    return out;
  }
  if (plan.crash == CrashPoint::mid_publish) {
    publish_pending(plan.publish_count);
    out.crashed = true;
    crash();
    return out;
  }
  publish_pending();
  return out;
}

}  // namespace flashsaga::sim
