#include "engine/runtime/ring_transport.h"

#include "engine/base/assert.h"

namespace flashsaga::runtime {

using ipc::Domain;
using ipc::Node;

RingTransport::RingTransport(ipc::Deployment& deployment, Domain self) : deployment_(deployment) {
  const Node me = ipc::domain_node(self);
  for (int e = 0; e < deployment_.edge_count(); ++e) {
    const Node from = deployment_.edge_from(e);
    const Node to = deployment_.edge_to(e);
    if (to == me) {
      input_info_.push_back(InputInfo{e, from.domain, from.port});
      input_rings_.push_back(deployment_.ring(from, to));
      readers_.emplace_back(input_rings_.back());
    } else if (from == me && to.domain != Domain::port) {
      output_info_.push_back(OutputInfo{e, to.domain});
      producers_.emplace_back(deployment_.ring(from, to), &deployment_.doorbell(to));
    }
  }
  for (std::uint32_t p = 0; p < deployment_.geometry().ports; ++p) {
    const Node port = ipc::port_node(p);
    reply_producers_.emplace_back(deployment_.ring(me, port), &deployment_.doorbell(port));
  }
}

void RingTransport::release(std::size_t input, std::uint64_t position,
                            std::uint64_t acked_sequence) noexcept {
  ipc::SpscRing& ring = input_rings_[input];
  ring.store_consumer_cursor(position);
  if (acked_sequence != 0) ring.store_acked(acked_sequence);
}

bool RingTransport::reply(const ipc::Message& m) noexcept {
  if (m.header.port >= reply_producers_.size()) return false;
  return reply_producers_[m.header.port].try_publish(m);
}

void RingTransport::apply(const domains::Effect& e) noexcept {
  using Kind = domains::Effect::Kind;
  ipc::ControlBlock& c = deployment_.control();
  if (e.kind == Kind::intake_open) {
    c.reconcile_count.fetch_add(1, std::memory_order_relaxed);
    c.reconcile_done.store(static_cast<std::uint64_t>(e.value), std::memory_order_release);
    c.intake_open.store(1, std::memory_order_seq_cst);
    return;
  }
  if (e.product_id == 0 || e.product_id >= deployment_.geometry().products_max) return;
  ipc::StockSlot& slot = deployment_.stock(e.product_id);
  switch (e.kind) {
    case Kind::stock_add:
      slot.available.fetch_add(e.value, std::memory_order_acq_rel);
      return;
    case Kind::stock_set:
      slot.available.store(e.value, std::memory_order_release);
      return;
    case Kind::product_publish:
      slot.price.store(e.product.price, std::memory_order_relaxed);
      slot.sale_starts_ns.store(e.product.sale_starts_ns, std::memory_order_relaxed);
      slot.sale_ends_ns.store(e.product.sale_ends_ns, std::memory_order_relaxed);
      slot.max_per_user.store(e.product.max_per_user, std::memory_order_relaxed);
      slot.total.store(e.product.total, std::memory_order_relaxed);
      slot.exists.store(1, std::memory_order_release);
      return;
    case Kind::intake_open:
      return;
  }
}

}  // namespace flashsaga::runtime
