// stock: reserving per-SKU stock by compare-and-swap, where a request enters.
//
// Requires: a Deployment attached in this process; the caller is an ingress port (the
//   gateway's I/O threads, or a client-library attachment) holding a PortSlot.
// Guarantees: `available` never goes below zero, whatever number of threads and processes
//   reserve the same SKU at once. A sold-out answer costs one load of a cache line that
//   reservers only read once stock is gone, no write, no journal, no IPC.
//   reserve_items() is all or nothing: on any failure every line already reserved is given back.
// Memory ordering: the CAS is acq_rel on `available` only; nothing else is published through
//   it. The intake gate uses the Dekker pattern with the product domain's reconciliation:
//   the port raises `inflight` (seq_cst) before it reads `intake_open` (seq_cst); the
//   reconciler closes the gate (seq_cst) before it reads every port's `inflight`. So either the
//   port sees the gate closed, or the reconciler sees the reservation in flight and waits.
//
// Example:
//   ReservationGuard guard(deployment, port_slot);          // inflight++ and gate check
//   if (!guard.admitted()) return answer_503();
//   std::uint32_t failed = 0;
//   ReserveResult r = reserve_items(deployment, items, count, now, &failed);
//   if (r != ReserveResult::ok) return answer_409(items[failed].product_id);
//   publish PlaceOrder; guard.handed_over();                // inflight-- after the ring has it
#pragma once

#include <cstdint>
#include <string_view>

#include "ipc/deployment.h"
#include "ipc/message.h"

namespace flashsaga::engine {

// Stable numbers. Transient results may succeed on retry; the others are final answers.
enum class ReserveResult : std::uint8_t {
  ok = 0,
  sold_out = 1,
  unknown_product = 2,
  not_on_sale = 3,
  contended = 4,  // the CAS kept losing (cas_retry_count_max): transient
  paused = 5,     // intake is paused for stock reconciliation: transient
};
constexpr bool is_transient(ReserveResult r) noexcept {
  return r == ReserveResult::contended || r == ReserveResult::paused;
}
std::string_view reserve_result_name(ReserveResult r) noexcept;

// Reserves `quantity` of one SKU. Does not look at the sale window.
ReserveResult reserve(ipc::StockSlot& slot, std::uint32_t quantity) noexcept;
void give_back(ipc::StockSlot& slot, std::uint32_t quantity) noexcept;

// Checks every line (product exists, within its sale window at now_wall_ns), fills each
// line's unit_price from the stock table, then reserves all lines or none. On failure
// *failed_index names the first line at fault.
ReserveResult reserve_items(ipc::Deployment& deployment, ipc::LineItem* items, std::uint32_t count,
                            std::int64_t now_wall_ns, std::uint32_t* failed_index) noexcept;
void give_back_items(ipc::Deployment& deployment, const ipc::LineItem* items,
                     std::uint32_t count) noexcept;

// Scope guard around one reservation attempt by a port (see the memory-ordering paragraph).
class ReservationGuard {
 public:
  ReservationGuard(ipc::Deployment& deployment, ipc::PortSlot& port) noexcept;
  ~ReservationGuard();
  ReservationGuard(const ReservationGuard&) = delete;
  ReservationGuard& operator=(const ReservationGuard&) = delete;
  bool admitted() const noexcept { return admitted_; }
  // The reservation is now in a ring (or was given back): stop counting it as in flight.
  void handed_over() noexcept;

 private:
  ipc::PortSlot& port_;
  bool admitted_ = false;
  bool counted_ = false;
};

}  // namespace flashsaga::engine
