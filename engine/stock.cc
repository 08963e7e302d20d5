#include "engine/stock.h"

#include "engine/base/assert.h"

namespace flashsaga::engine {

std::string_view reserve_result_name(ReserveResult r) noexcept {
  switch (r) {
    case ReserveResult::ok:
      return "ok";
    case ReserveResult::sold_out:
      return "sold_out";
    case ReserveResult::unknown_product:
      return "unknown_product";
    case ReserveResult::not_on_sale:
      return "not_on_sale";
    case ReserveResult::contended:
      return "contended";
    case ReserveResult::paused:
      return "paused";
  }
  return "unknown";
}

ReserveResult reserve(ipc::StockSlot& slot, std::uint32_t quantity) noexcept {
  FS_ASSERT(quantity >= 1);
  std::int64_t seen = slot.available.load(std::memory_order_relaxed);
  for (std::uint32_t attempt = 0; attempt < cas_retry_count_max; ++attempt) {
    if (seen < static_cast<std::int64_t>(quantity)) return ReserveResult::sold_out;
    if (slot.available.compare_exchange_weak(seen, seen - quantity, std::memory_order_acq_rel,
                                             std::memory_order_relaxed))
      return ReserveResult::ok;
  }
  return ReserveResult::contended;
}

void give_back(ipc::StockSlot& slot, std::uint32_t quantity) noexcept {
  slot.available.fetch_add(quantity, std::memory_order_acq_rel);
}

ReserveResult reserve_items(ipc::Deployment& deployment, ipc::LineItem* items, std::uint32_t count,
                            std::int64_t now_wall_ns, std::uint32_t* failed_index) noexcept {
  FS_ASSERT(count >= 1);
  FS_ASSERT(count <= line_items_max);
  const std::uint32_t products_max = deployment.geometry().products_max;
  for (std::uint32_t i = 0; i < count; ++i) {
    *failed_index = i;
    if (items[i].product_id == 0 || items[i].product_id >= products_max)
      return ReserveResult::unknown_product;
    ipc::StockSlot& slot = deployment.stock(items[i].product_id);
    if (slot.exists.load(std::memory_order_acquire) == 0) return ReserveResult::unknown_product;
    const std::int64_t starts = slot.sale_starts_ns.load(std::memory_order_relaxed);
    const std::int64_t ends = slot.sale_ends_ns.load(std::memory_order_relaxed);
    if ((starts != 0 && now_wall_ns < starts) || (ends != 0 && now_wall_ns >= ends))
      return ReserveResult::not_on_sale;
    items[i].unit_price = slot.price.load(std::memory_order_relaxed);
  }
  for (std::uint32_t i = 0; i < count; ++i) {
    const ReserveResult r = reserve(deployment.stock(items[i].product_id), items[i].quantity);
    if (r != ReserveResult::ok) {
      give_back_items(deployment, items, i);
      *failed_index = i;
      return r;
    }
  }
  return ReserveResult::ok;
}

void give_back_items(ipc::Deployment& deployment, const ipc::LineItem* items,
                     std::uint32_t count) noexcept {
  for (std::uint32_t i = 0; i < count; ++i)
    give_back(deployment.stock(items[i].product_id), items[i].quantity);
}

ReservationGuard::ReservationGuard(ipc::Deployment& deployment, ipc::PortSlot& port) noexcept
    : port_(port) {
  port_.inflight.fetch_add(1, std::memory_order_seq_cst);
  counted_ = true;
  admitted_ = deployment.control().intake_open.load(std::memory_order_seq_cst) == 1;
  if (!admitted_) handed_over();
}

ReservationGuard::~ReservationGuard() {
  handed_over();
}

void ReservationGuard::handed_over() noexcept {
  if (!counted_) return;
  counted_ = false;
  port_.inflight.fetch_sub(1, std::memory_order_seq_cst);
}

}  // namespace flashsaga::engine
