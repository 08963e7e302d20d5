// sim_transport: the simulator's side of the runtime seam — runtime::Transport over in-memory
// rings, with the faults the scheduler injects.
//
// Network holds the deployment's edges (its own numbering, ipc/deployment.h, for
// deployment_ports ports). Each Edge is what a shared-memory ring holds and so survives a crash
// of either end: the messages not yet released by the consumer, the consumer's cursor and its
// acknowledged sequence. The consumer's read position (how far its business stage read ahead)
// is process memory: a restarted consumer reads again from the released cursor.
//
// A SimTransport is one node's (domain process's) attachment to the Network:
//   - inputs: every edge into the domain; readable() shows at most what the scheduler made
//     visible for the next batch (show()), never past a delay — so batches take any number of
//     each edge's head messages (FIFO within an edge, reordered across edges);
//   - outputs: every edge to another domain; publish() takes the prefix that fits the edge's
//     capacity (back-pressure: the Committer keeps the rest pending, in order);
//   - reply() and apply() go to the SimWorld (the ports' reply queues and the simulated
//     shared-memory stock), which may lose a reply (a full reply ring);
//   - die_after(k): the process dies after k more calls of its committing side (effects,
//     messages, replies, releases each count one): a crash in the middle of a publish.
// It mirrors the Agent's duplicate filter (last sequence applied per input) so the simulator
// can tell what a batch will apply before it runs, and notice a duplicate that reached a logic.
//
// Requires: the Network and the SimWorld outlive the transport; one transport per live node.
// Guarantees: what runtime/transport.h requires of a Transport. Deterministic: no clock, no
//   thread, no iteration in address order.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "engine/runtime/transport.h"
#include "ipc/deployment.h"
#include "ipc/message.h"

namespace flashsaga::sim {

// Ports the simulator's clients use (ports 0..sim_ports_max-1); the edge numbering is the
// deployment's for a geometry with deployment_ports ports.
inline constexpr std::uint32_t deployment_ports = 4;
inline constexpr std::uint32_t sim_ports_max = 3;
static_assert(sim_ports_max <= deployment_ports);
inline constexpr int saga_edge_count = 7;
inline constexpr int edge_count =
    saga_edge_count + 2 * domain_count * static_cast<int>(deployment_ports);
// Slots of one simulated ring when the seed does not choose fewer (a seed holds a few hundred
// messages at most, so only a smaller choice makes rings fill).
inline constexpr std::size_t edge_capacity_slots = 4096;
// The segment epoch stored in the inbox cursors of port edges (one segment per simulated run).
inline constexpr std::int64_t sim_segment_id = 1;

// The deployment's own edge numbering (ipc/deployment.h) for deployment_ports ports.
inline int edge_index(ipc::Node from, ipc::Node to) noexcept {
  return ipc::edge_index(from, to, deployment_ports);
}
inline ipc::Node edge_from(int index) noexcept {
  return ipc::edge_from(index, deployment_ports);
}
inline ipc::Node edge_to(int index) noexcept {
  return ipc::edge_to(index, deployment_ports);
}

// One directed ring.
//
//   released            read                      end() = released + ring.size()
//      |<-- read, not released -->|<-- unread -->|
//      ring.front()                               ring.back()
struct Edge {
  int index = -1;
  ipc::Node from, to;
  std::deque<ipc::Message> ring;      // not yet released by the consumer, oldest first
  std::uint64_t released = 0;         // consumer cursor (shared memory)
  std::uint64_t acked = 0;            // consumer's acknowledged sequence (shared memory)
  std::uint64_t read = 0;             // consumer's read position (its process memory)
  std::int64_t delayed_until_ns = 0;  // fault: the consumer sees nothing before this time
  std::size_t capacity = edge_capacity_slots;

  bool full() const noexcept { return ring.size() >= capacity; }
  std::uint64_t end() const noexcept { return released + ring.size(); }
  std::size_t unread() const noexcept { return static_cast<std::size_t>(end() - read); }
  std::size_t read_offset() const noexcept { return static_cast<std::size_t>(read - released); }
  bool to_domain() const noexcept { return to.domain != ipc::Domain::port; }
};

struct Network {
  std::array<Edge, edge_count> edges;
  Network();
  Edge& edge(ipc::Node from, ipc::Node to);
};

// What a node's transport reaches beyond the rings.
class SimWorld {
 public:
  virtual ~SimWorld() = default;
  // Delivers a reply to the port in m.header.port; false: its reply ring was full (lost).
  virtual bool reply(const ipc::Message& m) = 0;
  // Applies a shared-memory effect (stock counters, catalog) published by domain `from`.
  virtual void apply(ipc::Domain from, const domains::Effect& e) = 0;
};

class SimTransport final : public runtime::Transport {
 public:
  SimTransport(ipc::Domain self, Network& net, SimWorld& world);

  std::span<const runtime::InputInfo> inputs() const noexcept override { return input_info_; }
  std::span<const runtime::OutputInfo> outputs() const noexcept override { return output_info_; }
  std::int64_t port_epoch() const noexcept override { return sim_segment_id; }

  std::size_t readable(std::size_t input) noexcept override;
  const ipc::Message& peek(std::size_t input, std::size_t k) noexcept override;
  void advance(std::size_t input, std::size_t n) noexcept override;
  std::uint64_t read_position(std::size_t input) const noexcept override {
    return edge_in(input).read;
  }

  void release(std::size_t input, std::uint64_t position,
               std::uint64_t acked_sequence) noexcept override;
  std::size_t publish(std::size_t output, std::span<const ipc::Message> ms) noexcept override;
  std::uint64_t acked(std::size_t output) const noexcept override { return edge_out(output).acked; }
  bool reply(const ipc::Message& m) noexcept override;
  void apply(const domains::Effect& e) noexcept override;

  // --- what the simulator controls --------------------------------------------------------
  // The process starts: reads again from each input's released cursor; `applied` is the last
  // sequence the Agent resumes with per input, `truth` what the journal says (they differ
  // only when a deliberate bug makes the runtime forget its inbox positions).
  void resume(const std::vector<std::uint64_t>& applied, const std::vector<std::uint64_t>& truth);
  // The next batch may see up to n unread messages of `input` (0 while the edge is delayed).
  void show(std::size_t input, std::size_t n, std::int64_t now_ns);
  void hide_all();
  // Mid-publish crash: only `calls` more committing-side calls take effect.
  void die_after(std::size_t calls) noexcept { calls_left_ = calls; }
  bool dead() const noexcept { return calls_left_ == 0; }

  std::size_t input_of_edge(int edge) const noexcept;  // SIZE_MAX: not an input
  std::uint64_t applied(std::size_t input) const noexcept { return applied_[input]; }
  std::uint64_t truth(std::size_t input) const noexcept { return truth_[input]; }
  // Duplicates (by the journal's truth) the Agent handed to the logic since the start.
  std::uint64_t duplicates_applied() const noexcept { return duplicates_applied_; }

 private:
  Edge& edge_in(std::size_t input) const noexcept { return *in_edges_[input]; }
  Edge& edge_out(std::size_t output) const noexcept { return *out_edges_[output]; }
  bool spend() noexcept;

  ipc::Domain self_;
  SimWorld& world_;
  std::vector<runtime::InputInfo> input_info_;
  std::vector<runtime::OutputInfo> output_info_;
  std::vector<Edge*> in_edges_;
  std::vector<Edge*> out_edges_;
  std::vector<std::size_t> visible_;    // per input: what the next batch may still read
  std::vector<std::uint64_t> applied_;  // per input: the Agent's last applied sequence
  std::vector<std::uint64_t> truth_;    // per input: the highest sequence ever applied
  std::uint64_t duplicates_applied_ = 0;
  std::size_t calls_left_ = SIZE_MAX;
};

}  // namespace flashsaga::sim
