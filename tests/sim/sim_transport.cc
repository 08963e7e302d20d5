#include "tests/sim/sim_transport.h"

#include <algorithm>

#include "engine/base/assert.h"

namespace flashsaga::sim {

using ipc::Domain;
using ipc::Message;
using ipc::Node;

Network::Network() {
  FS_ASSERT(edge_count == ipc::edge_count(deployment_ports));
  for (int e = 0; e < edge_count; ++e) {
    edges[static_cast<std::size_t>(e)].index = e;
    edges[static_cast<std::size_t>(e)].from = edge_from(e);
    edges[static_cast<std::size_t>(e)].to = edge_to(e);
  }
}

Edge& Network::edge(Node from, Node to) {
  const int e = edge_index(from, to);
  FS_ASSERT(e >= 0);
  return edges[static_cast<std::size_t>(e)];
}

SimTransport::SimTransport(Domain self, Network& net, SimWorld& world)
    : self_(self), world_(world) {
  const Node me = ipc::domain_node(self);
  // Edge order, like RingTransport: the inputs' and outputs' indexes are stable.
  for (Edge& e : net.edges) {
    if (e.to == me) {
      input_info_.push_back(runtime::InputInfo{e.index, e.from.domain, e.from.port});
      in_edges_.push_back(&e);
    } else if (e.from == me && e.to_domain()) {
      output_info_.push_back(runtime::OutputInfo{e.index, e.to.domain});
      out_edges_.push_back(&e);
    }
  }
  visible_.assign(in_edges_.size(), 0);
  applied_.assign(in_edges_.size(), 0);
  truth_.assign(in_edges_.size(), 0);
}

void SimTransport::resume(const std::vector<std::uint64_t>& applied,
                          const std::vector<std::uint64_t>& truth) {
  FS_ASSERT(applied.size() == in_edges_.size());
  FS_ASSERT(truth.size() == in_edges_.size());
  applied_ = applied;
  truth_ = truth;
  for (Edge* e : in_edges_) e->read = e->released;  // what was read and not released comes again
  hide_all();
}

void SimTransport::show(std::size_t input, std::size_t n, std::int64_t now_ns) {
  const Edge& e = edge_in(input);
  visible_[input] = e.delayed_until_ns > now_ns ? 0 : std::min(n, e.unread());
}

void SimTransport::hide_all() {
  std::fill(visible_.begin(), visible_.end(), 0);
}

std::size_t SimTransport::input_of_edge(int edge) const noexcept {
  for (std::size_t i = 0; i < input_info_.size(); ++i)
    if (input_info_[i].edge == edge) return i;
  return SIZE_MAX;
}

std::size_t SimTransport::readable(std::size_t input) noexcept {
  return std::min(visible_[input], edge_in(input).unread());
}

const Message& SimTransport::peek(std::size_t input, std::size_t k) noexcept {
  const Edge& e = edge_in(input);
  FS_ASSERT(k < e.unread());
  return e.ring[e.read_offset() + k];
}

void SimTransport::advance(std::size_t input, std::size_t n) noexcept {
  Edge& e = edge_in(input);
  FS_ASSERT(n <= e.unread());
  for (std::size_t k = 0; k < n; ++k) {
    // The Agent's filter: a valid message above the last applied sequence is applied.
    const Message& m = e.ring[e.read_offset() + k];
    if (ipc::validate(m) != ipc::MessageError::ok || m.header.sequence <= applied_[input]) continue;
    applied_[input] = m.header.sequence;
    if (m.header.sequence <= truth_[input]) ++duplicates_applied_;
    truth_[input] = std::max(truth_[input], m.header.sequence);
  }
  e.read += n;
  visible_[input] -= std::min(visible_[input], n);
}

bool SimTransport::spend() noexcept {
  if (calls_left_ == 0) return false;  // the process is dead: nothing more leaves it
  if (calls_left_ != SIZE_MAX) --calls_left_;
  return true;
}

void SimTransport::release(std::size_t input, std::uint64_t position,
                           std::uint64_t acked_sequence) noexcept {
  if (!spend()) return;
  Edge& e = edge_in(input);
  FS_ASSERT(position >= e.released && position <= e.read);
  e.ring.erase(e.ring.begin(), e.ring.begin() + static_cast<std::ptrdiff_t>(position - e.released));
  e.released = position;
  if (acked_sequence != 0) e.acked = acked_sequence;  // as RingTransport stores it
}

std::size_t SimTransport::publish(std::size_t output, std::span<const Message> ms) noexcept {
  Edge& e = edge_out(output);
  std::size_t n = 0;
  while (n < ms.size() && !e.full() && spend()) e.ring.push_back(ms[n++]);
  return n;
}

bool SimTransport::reply(const Message& m) noexcept {
  return spend() && world_.reply(m);
}

void SimTransport::apply(const domains::Effect& e) noexcept {
  if (spend()) world_.apply(self_, e);
}

}  // namespace flashsaga::sim
