// sim_node: one domain of the deterministic simulator — the real DomainLogic over its own LMDB
// journal, driven by a single-threaded model of runtime::Runtime over in-memory rings.
//
// Requires: a Network whose edges outlive the node; a factory that builds the domain's logic
//   (called again after every crash: a crash is a new process); a per-seed directory on tmpfs.
// Guarantees (the contract of engine/runtime/runtime.h, kept step for step so `flashsaga check`
//   reads the same tables a real deployment writes):
//   - a batch takes, per input edge in edge order, the number of head messages the scheduler
//     chose (FIFO within an edge, as a ring), drops duplicates by (edge, sequence) against the
//     inbox, applies the rest and tick() in ONE write transaction together with the journal
//     records, the inbox rows (InboxEntry), the outseq rows and the outbox rows, then prunes
//     the outbox up to what each consumer acknowledged;
//   - only after the commit, in the runtime's order: committed(), stock deltas, replies,
//     release of the input slots plus the consumer's ack, publication of the outbox;
//   - a crash can be injected at every point of that sequence (CrashPoint); the node then
//     loses its logic object and its environment, and restart() reopens both, reloads the inbox
//     positions and re-sends every outbox entry beyond the consumer's ack, like Runtime::recover;
//   - a failed commit (FailCommit) takes the runtime's error path: abort, roll back the in-memory
//     sequences, logic.recover(), inputs stay in their rings.
// Nothing here reads a clock, spawns a thread or iterates in address order.
//
// Example:
//   SimNode node(Domain::coupon, dir, [] { return std::make_unique<CouponDomain>(); }, net);
//   node.restart();
//   BatchPlan plan;  plan.take[edge] = 2;
//   BatchOutcome out = node.run_batch(now_ns, plan, nodes);
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "domains/logic.h"
#include "domains/rows.h"
#include "ipc/message.h"
#include "ipc/deployment.h"
#include "journal/journal.h"

namespace flashsaga::sim {

// Ports the simulator's clients use (ports 0..sim_ports_max-1); the edge numbering is the
// deployment's for a geometry with deployment_ports ports.
inline constexpr std::uint32_t deployment_ports = 4;
inline constexpr std::uint32_t sim_ports_max = 3;
static_assert(sim_ports_max <= deployment_ports);
inline constexpr int saga_edge_count = 7;
inline constexpr int edge_count = saga_edge_count + 2 * domain_count * static_cast<int>(deployment_ports);
// Slots of one simulated ring. Small: a seed never holds more than a few hundred messages.
inline constexpr std::size_t edge_capacity_slots = 4096;
// The segment epoch stored in the inbox rows of port edges (one segment per simulated run).
inline constexpr std::int64_t sim_segment_id = 1;

// The deployment's own edge numbering (ipc/deployment.h) for deployment_ports ports.
inline int edge_index(ipc::Node from, ipc::Node to) noexcept { return ipc::edge_index(from, to, deployment_ports); }
inline ipc::Node edge_from(int index) noexcept { return ipc::edge_from(index, deployment_ports); }
inline ipc::Node edge_to(int index) noexcept { return ipc::edge_to(index, deployment_ports); }

// One directed ring. `acked` is the consumer's acknowledged sequence, which lives in the ring
// (shared memory) and so survives a crash of either end.
struct Edge {
  int index = -1;
  ipc::Node from, to;
  std::deque<ipc::Message> ring;  // at most edge_capacity_slots
  std::uint64_t acked = 0;
  std::int64_t delayed_until_ns = 0;  // fault: the consumer sees nothing before this time
  bool full() const noexcept { return ring.size() >= edge_capacity_slots; }
};

struct Network {
  std::array<Edge, edge_count> edges;
  Network();
  Edge& edge(ipc::Node from, ipc::Node to);
};

// Where a crash hits a batch (the runtime's order of events after the commit).
enum class CrashPoint : std::uint8_t {
  none = 0,
  before_commit = 1,   // the process dies inside the transaction: nothing happened
  after_commit = 2,    // committed; no delta, reply, release, ack or publish
  before_release = 3,  // deltas applied and replies sent; inputs not released, not acked
  before_publish = 4,  // inputs released and acked; the outbox not yet in the rings
  mid_publish = 5,     // part of the outbox in the rings
};
inline constexpr std::uint8_t crash_point_count = 6;
std::string_view crash_point_name(CrashPoint p) noexcept;

struct BatchPlan {
  std::array<std::uint32_t, edge_count> take{};  // head messages to take per input edge
  CrashPoint crash = CrashPoint::none;
  bool fail_commit = false;        // the commit fails: the runtime's rollback path
  std::uint32_t publish_count = 0; // mid_publish: messages published before the crash
  bool skip_dedup = false;         // test-only bug: hand duplicates to the logic
};

struct BatchOutcome {
  bool ran = false;        // a transaction was opened
  bool committed = false;
  bool crashed = false;
  std::size_t applied = 0, duplicates = 0, consumed = 0, sent = 0;
  std::vector<domains::StockDelta> deltas;  // to apply to the stock counters (after commit)
  std::vector<ipc::Message> replies;        // to the ports (after commit)
  std::string error;                        // a journal error the runtime would log
};

class SimNode {
 public:
  using Factory = std::function<std::unique_ptr<domains::DomainLogic>()>;

  SimNode(ipc::Domain domain, std::filesystem::path data_dir, Factory factory, Network& net);
  ~SimNode();
  SimNode(const SimNode&) = delete;
  SimNode& operator=(const SimNode&) = delete;

  // Opens the environment, builds a new logic, recovers it and re-sends the unacknowledged
  // outbox (Runtime::recover). Empty on success, else what failed.
  std::string restart(const std::array<SimNode*, domain_count + 1>& nodes);
  // The process dies now (between batches): logic and environment are gone.
  void crash();
  // Closes the environment (for the checker, which must open it alone).
  void close() { crash(); }
  bool up() const noexcept { return env_ != nullptr; }

  // One duty cycle's batch with the chosen inputs. Does nothing (ran == false) when there is
  // no input taken, no tick due and no prune due, like Runtime::run_batch.
  BatchOutcome run_batch(std::int64_t now_ns, const BatchPlan& plan,
                         const std::array<SimNode*, domain_count + 1>& nodes);
  // Moves committed messages into rings with room (Runtime::publish_pending); returns how many.
  std::size_t publish_pending(std::size_t limit = SIZE_MAX);

  // Whether a batch would do anything at now_ns with every ready input taken.
  bool has_work(std::int64_t now_ns) const;
  std::int64_t next_due_ns() const;
  bool tick_due(std::int64_t now_ns) const;
  std::size_t pending_out() const;
  const std::vector<int>& inputs() const noexcept { return input_edges_; }

  ipc::Domain domain() const noexcept { return domain_; }
  journal::Env* env() noexcept { return env_.get(); }
  domains::DomainLogic* logic() noexcept { return logic_.get(); }
  std::uint64_t input_position(int edge) const;  // last sequence applied (in memory)
  std::uint64_t restarts() const noexcept { return restarts_; }

 private:
  struct Input {
    int edge = -1;
    bool from_port = false;
    std::uint64_t last_sequence = 0;
    std::uint64_t last_sequence_before = 0;
    std::size_t taken = 0;
    bool dirty = false;
  };
  struct Output {
    int edge = -1;
    ipc::Domain to = ipc::Domain::none;
    std::uint64_t next_sequence = 0;
    std::uint64_t next_sequence_before = 0;
    std::uint64_t pruned_upto = 0;
    std::uint64_t pruned_upto_before = 0;
    std::deque<ipc::Message> pending;  // committed, not yet in the ring
    bool dirty = false;
  };

  journal::Status prune_outbox(journal::WriteTxn& txn);
  bool outputs_backed_up() const;
  void roll_back();

  ipc::Domain domain_;
  std::filesystem::path dir_;
  Factory factory_;
  Network& net_;
  std::unique_ptr<journal::Env> env_;
  std::unique_ptr<domains::DomainLogic> logic_;
  std::vector<int> input_edges_;
  std::vector<Input> inputs_;
  std::vector<Output> outputs_;
  std::uint64_t reply_sequence_ = 0;
  domains::Batch batch_;
  journal::TableId t_inbox_ = 0, t_outseq_ = 0, t_outbox_ = 0;
  std::uint64_t restarts_ = 0;
};

}  // namespace flashsaga::sim
