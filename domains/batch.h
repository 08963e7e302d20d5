// batch: what a domain's logic sees of the batch under way (one write transaction).
//
// Requires: begin() with a live write transaction before any record(); the transport (the
//   runtime, a test, the simulator) owns the batch and the transaction.
// Guarantees: records and state changes go into the transaction at once; messages, replies
//   and stock changes are only staged here, and leave the process after the commit. The
//   staging vectors keep their capacity from batch to batch.
//
// Example (inside DomainLogic::apply):
//   if (journal::Status s = batch.record(RecordType::user_created, 0, row); !s.ok()) return s;
//   batch.reply_command(in, ipc::Domain::user, ipc::CommandResult::ok, 0, row.id);
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "domains/rows.h"
#include "ipc/message.h"
#include "journal/journal.h"

namespace flashsaga::domains {

// A change to a shared-memory stock counter, applied after commit.
struct StockDelta {
  std::uint32_t product_id;
  std::int64_t available_delta;
};

// What a domain's logic sees of the batch under way. Everything it does through a Batch
// commits together or not at all: records and state go into the transaction now; messages
// and stock changes are staged here and leave the process only after the commit (the
// transport — the Runtime, a test, or the simulator — does that). Staging vectors are reused
// from batch to batch, so a warm domain does not allocate.
class Batch {
 public:
  Batch() = default;
  void begin(journal::WriteTxn& txn, std::int64_t now_ns) noexcept;
  journal::WriteTxn& txn() noexcept { return *txn_; }
  std::int64_t now_ns() const noexcept { return now_ns_; }  // wall clock at batch start

  // Appends a journal record whose payload is a row or an Event.
  template <typename Payload>
  journal::Status record(RecordType type, std::uint64_t order_id, const Payload& payload) {
    static_assert(is_row_v<Payload>);
    return txn_->append(static_cast<std::uint16_t>(type), order_id, journal::as_bytes(payload));
  }
  // Sends a message (built with ipc::make_message) to another domain after commit.
  void send(ipc::Domain to, const ipc::Message& m) { sends_.push_back({to, m}); }
  // Replies to the port that sent `request` (its correlation id and port are copied over).
  void reply(const ipc::Message& request, const ipc::Message& reply);
  // Answers a command with a CommandReplyBody (field: which field was at fault, 0 if none).
  void reply_command(const ipc::Message& request, ipc::Domain self, ipc::CommandResult result,
                     std::uint16_t field = 0, std::uint64_t entity_id = 0, std::int64_t value = 0);
  // Sends a message about an order from domain `self` to domain `to`.
  template <typename Body>
  void send_to(ipc::Domain self, ipc::Domain to, ipc::MessageType type, std::uint64_t order_id, const Body& body) {
    ipc::Message m = ipc::make_message(type, self, to, body);
    m.header.order_id = order_id;
    send(to, m);
  }
  // Changes a shared-memory stock counter after commit.
  void stock_delta(std::uint32_t product_id, std::int64_t delta) {
    deltas_.push_back({product_id, delta});
  }
  // A read view of another domain's journal, taken at batch start (nullptr if unavailable),
  // and that journal's environment (for its table handles).
  const journal::ReadTxn* peer(ipc::Domain d) const noexcept;
  const journal::Env* peer_env(ipc::Domain d) const noexcept;
  void set_peer(ipc::Domain d, const journal::Env* env, const journal::ReadTxn* txn) noexcept;

  struct Send {
    ipc::Domain to;
    ipc::Message message;
  };
  std::vector<Send>& sends() noexcept { return sends_; }
  std::vector<ipc::Message>& replies() noexcept { return replies_; }
  std::vector<StockDelta>& deltas() noexcept { return deltas_; }

 private:
  journal::WriteTxn* txn_ = nullptr;
  std::int64_t now_ns_ = 0;
  std::vector<Send> sends_;
  std::vector<ipc::Message> replies_;
  std::vector<StockDelta> deltas_;
  std::array<const journal::ReadTxn*, domain_count + 1> peers_{};
  std::array<const journal::Env*, domain_count + 1> peer_envs_{};
};

}  // namespace flashsaga::domains
