#include "ipc/deployment.h"

#include <array>
#include <cstring>
#include <new>

#include "engine/base/assert.h"
#include "engine/base/crc32c.h"

namespace flashsaga::ipc {
namespace {

constexpr std::size_t region_align_bytes = 4096;

constexpr std::size_t align_up(std::size_t n, std::size_t a) noexcept {
  return (n + a - 1) / a * a;
}

// The seven saga edges, in their stable order.
constexpr std::array<std::pair<Domain, Domain>, 7> saga_edges = {{
    {Domain::order, Domain::product},
    {Domain::order, Domain::coupon},
    {Domain::coupon, Domain::order},
    {Domain::order, Domain::point},
    {Domain::point, Domain::order},
    {Domain::order, Domain::payment},
    {Domain::payment, Domain::order},
}};
constexpr int saga_edge_count = static_cast<int>(saga_edges.size());
constexpr int edges_per_port = 2 * domain_count;

// Domains in their port-edge order: user, point, product, coupon, order, payment (= values 1..6).
constexpr Domain port_edge_domain(int i) noexcept {
  return static_cast<Domain>(i + 1);
}

std::size_t control_bytes() noexcept {
  return align_up(sizeof(ControlBlock), region_align_bytes);
}
std::size_t ports_bytes(const Geometry& g) noexcept {
  return align_up(sizeof(PortSlot) * g.ports, region_align_bytes);
}
std::size_t doorbells_bytes(const Geometry& g) noexcept {
  return align_up(sizeof(ipc::Doorbell) * (domain_count + g.ports), region_align_bytes);
}
std::size_t stock_bytes(const Geometry& g) noexcept {
  return align_up(sizeof(StockSlot) * g.products_max, region_align_bytes);
}

}  // namespace

std::uint64_t Geometry::hash() const noexcept {
  const std::array<std::uint32_t, 5> fields = {saga_ring_slots, port_ring_slots, ports,
                                               products_max, ipc::message_layout_version};
  const std::uint32_t lo = crc32c(fields.data(), sizeof fields);
  const std::uint32_t hi = crc32c(fields.data(), sizeof fields, 0x5A5A5A5Au);
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

std::string_view domain_state_name(DomainState s) noexcept {
  switch (s) {
    case DomainState::down:
      return "down";
    case DomainState::starting:
      return "starting";
    case DomainState::recovering:
      return "recovering";
    case DomainState::ready:
      return "ready";
    case DomainState::degraded:
      return "degraded";
  }
  return "unknown";
}

int edge_count(std::uint32_t ports) noexcept {
  return saga_edge_count + edges_per_port * static_cast<int>(ports);
}

int edge_index(Node from, Node to, std::uint32_t ports) noexcept {
  if (from.domain != Domain::port && to.domain != Domain::port) {
    for (int i = 0; i < saga_edge_count; ++i)
      if (saga_edges[i].first == from.domain && saga_edges[i].second == to.domain) return i;
    return -1;
  }
  const bool inbound = from.domain == Domain::port;  // port -> domain
  const Node port = inbound ? from : to;
  const Node other = inbound ? to : from;
  if (other.domain == Domain::port || other.domain == Domain::none) return -1;
  if (port.port >= ports) return -1;
  const int d = static_cast<int>(other.domain) - 1;
  if (d < 0 || d >= domain_count) return -1;
  return saga_edge_count + port.port * edges_per_port + (inbound ? 0 : domain_count) + d;
}

Node edge_from(int index, std::uint32_t ports) noexcept {
  FS_ASSERT(index >= 0);
  FS_ASSERT(index < edge_count(ports));
  if (index < saga_edge_count) return domain_node(saga_edges[index].first);
  const int rel = index - saga_edge_count;
  const int p = rel / edges_per_port;
  const int k = rel % edges_per_port;
  return k < domain_count ? port_node(p) : domain_node(port_edge_domain(k - domain_count));
}

Node edge_to(int index, std::uint32_t ports) noexcept {
  FS_ASSERT(index >= 0);
  FS_ASSERT(index < edge_count(ports));
  if (index < saga_edge_count) return domain_node(saga_edges[index].second);
  const int rel = index - saga_edge_count;
  const int p = rel / edges_per_port;
  const int k = rel % edges_per_port;
  return k < domain_count ? domain_node(port_edge_domain(k)) : port_node(p);
}

int Deployment::edge_count() const noexcept {
  return ipc::edge_count(geometry_.ports);
}
int Deployment::edge_index(Node from, Node to) const noexcept {
  return ipc::edge_index(from, to, geometry_.ports);
}
Node Deployment::edge_from(int index) const noexcept {
  return ipc::edge_from(index, geometry_.ports);
}
Node Deployment::edge_to(int index) const noexcept {
  return ipc::edge_to(index, geometry_.ports);
}
bool Deployment::has_edge(Node from, Node to) const noexcept {
  return edge_index(from, to) >= 0;
}

std::uint32_t Deployment::ring_slots(int edge) const noexcept {
  if (edge < saga_edge_count) return geometry_.saga_ring_slots;
  // The port->order edge carries every order a port places: give it the saga capacity.
  const Node from = edge_from(edge);
  const Node to = edge_to(edge);
  if (from.domain == Domain::port && to.domain == Domain::order) return geometry_.saga_ring_slots;
  if (to.domain == Domain::port && from.domain == Domain::order) return geometry_.saga_ring_slots;
  return geometry_.port_ring_slots;
}

std::size_t Deployment::ring_offset(int edge) const noexcept {
  std::size_t offset = 0;
  for (int i = 0; i < edge; ++i)
    offset += align_up(ipc::SpscRing::region_bytes(ring_slots(i)), region_align_bytes);
  return offset;
}

std::size_t deployment_bytes(const Geometry& g) noexcept {
  // Same arithmetic as ring_offset() over all edges: saga edges and each port's two order
  // edges at the saga capacity, the port's other edges at the port capacity.
  std::size_t rings = 0;
  const std::size_t saga =
      align_up(ipc::SpscRing::region_bytes(g.saga_ring_slots), region_align_bytes);
  const std::size_t port =
      align_up(ipc::SpscRing::region_bytes(g.port_ring_slots), region_align_bytes);
  rings += saga * saga_edge_count;
  rings += g.ports * (2 * saga + (edges_per_port - 2) * port);
  return control_bytes() + ports_bytes(g) + doorbells_bytes(g) + stock_bytes(g) + rings;
}

bool Deployment::map(std::string* error) {
  std::byte* base = segment_->payload();
  const std::size_t need = deployment_bytes(geometry_);
  if (segment_->payload_bytes() < need) {
    if (error) *error = "segment is smaller than its geometry needs";
    return false;
  }
  std::size_t at = 0;
  control_ = reinterpret_cast<ControlBlock*>(base + at);
  at += control_bytes();
  ports_ = reinterpret_cast<PortSlot*>(base + at);
  at += ports_bytes(geometry_);
  doorbells_ = reinterpret_cast<ipc::Doorbell*>(base + at);
  at += doorbells_bytes(geometry_);
  stock_ = reinterpret_cast<StockSlot*>(base + at);
  at += stock_bytes(geometry_);
  rings_ = base + at;
  return true;
}

void Deployment::format() {
  // The segment arrives zero-filled: every atomic starts at 0, which is each field's initial
  // state. Only the doorbells and rings need their headers written.
  new (control_) ControlBlock();
  control_->intake_open.store(0, std::memory_order_relaxed);  // opened by product after reconcile
  for (std::uint32_t i = 0; i < domain_count + geometry_.ports; ++i)
    ipc::doorbell_init(doorbells_[i]);
  for (int e = 0; e < edge_count(); ++e)
    (void)ipc::SpscRing::format(rings_ + ring_offset(e), ring_slots(e), edge_from(e), edge_to(e));
  // Last, with release: the mark attach() waits for. The supervisor's own children start after
  // this anyway (fork/exec orders everything written before it), but a client library may find
  // the segment's file while it is still being formatted.
  control_->segment_id.store(segment_->header().created_wall_ns, std::memory_order_release);
}

bool Deployment::create(const std::filesystem::path& data_dir, const Geometry& geometry,
                        std::unique_ptr<Deployment>& out, std::string* error, std::string* note) {
  if (geometry.ports < 1 || geometry.ports > ports_max) {
    if (error) *error = "ports must be within 1.." + std::to_string(ports_max);
    return false;
  }
  std::unique_ptr<Deployment> d(new Deployment());
  d->geometry_ = geometry;
  if (!ipc::Segment::create(data_dir, deployment_bytes(geometry), geometry.hash(), d->segment_,
                            error, note))
    return false;
  if (!d->map(error)) return false;
  d->format();
  out = std::move(d);
  return true;
}

bool Deployment::attach(const std::filesystem::path& data_dir, const Geometry& geometry,
                        std::unique_ptr<Deployment>& out, std::string* error) {
  std::unique_ptr<Deployment> d(new Deployment());
  d->geometry_ = geometry;
  if (!ipc::Segment::attach(data_dir, geometry.hash(), d->segment_, error)) return false;
  if (!d->map(error)) return false;
  if (d->control_->segment_id.load(std::memory_order_acquire) == 0) {
    if (error) *error = "the deployment's shared memory is still being set up (retry)";
    return false;
  }
  out = std::move(d);
  return true;
}

ipc::Doorbell& Deployment::doorbell(Node consumer) noexcept {
  if (consumer.domain == Domain::port) {
    FS_ASSERT(consumer.port < geometry_.ports);
    return doorbells_[domain_count + consumer.port];
  }
  const int d = static_cast<int>(consumer.domain) - 1;
  FS_ASSERT(d >= 0);
  FS_ASSERT(d < domain_count);
  return doorbells_[d];
}

StockSlot& Deployment::stock(std::uint32_t product_id) noexcept {
  FS_ASSERT(product_id >= 1);
  FS_ASSERT(product_id < geometry_.products_max);
  return stock_[product_id];
}

ipc::SpscRing Deployment::ring(Node from, Node to) noexcept {
  const int e = edge_index(from, to);
  FS_ASSERT(e >= 0);
  ipc::SpscRing r;
  std::string error;
  const bool ok = ipc::SpscRing::attach(rings_ + ring_offset(e), r, &error);
  FS_ASSERT(ok);
  return r;
}

std::int64_t Deployment::segment_id() const noexcept {
  return control_->segment_id.load(std::memory_order_relaxed);
}

}  // namespace flashsaga::ipc
