// batch: what a domain's logic sees of the batch under way, and the effects it stages.
//
// A domain is event-driven and single-threaded: the runtime hands it one valid, non-duplicate
// input message at a time inside a Batch, and once per batch a chance to do timed work. The
// logic decides against its in-memory state (domains/state.h) and expresses every outcome
// through the Batch:
//   - record():  a journal record (an event: what happened, for the inspector and the checker);
//   - state tables' put()/del(): the state change itself, journaled as a redo entry and applied
//     to the domain's read model (its view environment) once the batch is durable;
//   - send()/reply(): messages, published only after the batch is durable;
//   - effect():  a change to shared memory (stock counters, the catalog, the intake gate),
//     applied only after the batch is durable and before any reply of the batch leaves.
// Nothing here can fail: the batch is memory until the runtime commits it, and a commit that
// fails is retried by the runtime, never undone. So the logic never rolls back, and a domain
// whose own read model cannot be read (an I/O error) stops the process (it restarts and
// recovers from its journal).
//
// Requires: one Batch at a time per domain, used by the business thread only.
// Guarantees: a batch's records, state changes, messages and effects become durable together
//   (one journal value) or not at all; after a crash the runtime rebuilds the view from the
//   journal and the logic reloads its memory from the view (load()).
//
// Example (a leaf domain):
//   void MyDomain::apply(Batch& b, const ipc::Message& in) {
//     Wallet w = wallets_.get(user);             // memory
//     w.balance += amount;
//     wallets_.put(b, user, w);                  // memory + redo entry + view row
//     b.record(RecordType::wallet_deposited, 0, event);
//     b.reply_command(in, ipc::Domain::payment, ipc::CommandResult::ok, 0, user, w.balance);
//   }
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "domains/rows.h"
#include "ipc/message.h"
#include "journal/batch.h"
#include "journal/journal.h"

namespace flashsaga::domains {

// A change to shared memory, applied after the batch is durable (by the runtime's transport).
struct Effect {
  enum class Kind : std::uint8_t {
    stock_add = 1,        // available += value
    stock_set = 2,        // available = value
    product_publish = 3,  // price, sale window, limit and total of a product; exists = 1
    intake_open = 4,      // reconciliation done up to `value`; intake reopens
  };
  Kind kind;
  std::uint32_t product_id;
  std::int64_t value;
  ProductRow product;  // product_publish only
};

// Tags of the runtime's own state entries, beside the logic's table indexes (0..tables-1).
inline constexpr std::uint16_t state_tag_delete_bit = 0x8000;
inline constexpr std::uint16_t state_tag_counters = 0x7FFF;  // the "counters" view table

class Batch {
 public:
  Batch() = default;
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  // --- what the logic uses -------------------------------------------------------------
  std::int64_t now_ns() const noexcept { return now_ns_; }  // wall clock, read once per batch
  // Monotonic clock, read once per batch: what deadlines (tick_due, next_due_ns) run on, so a
  // wall clock stepped back or forward neither holds nor fires them. Equals now_ns() where
  // there is one clock (the simulator, the domain tests).
  std::int64_t mono_ns() const noexcept { return mono_ns_; }
  std::uint64_t id() const noexcept { return id_; }  // batch number, from 1, increasing

  // Appends a journal record whose payload is a row or an Event; returns its sequence.
  template <typename Payload>
  std::uint64_t record(RecordType type, std::uint64_t order_id, const Payload& payload) {
    static_assert(is_row_v<Payload>);
    return journal_->add_record(static_cast<std::uint16_t>(type), order_id,
                                journal::as_bytes(payload));
  }
  // Sends a message (built with ipc::make_message) to another domain after the batch is durable.
  void send(ipc::Domain to, const ipc::Message& m) { sends_.push_back({to, m}); }
  template <typename Body>
  void send_to(ipc::Domain self, ipc::Domain to, ipc::MessageType type, std::uint64_t order_id,
               const Body& body) {
    ipc::Message m = ipc::make_message(type, self, to, body, ipc::stamp_at_seal);
    m.header.order_id = order_id;
    send(to, m);
  }
  // Replies to the port that sent `request` (its correlation id and port are copied over).
  void reply(const ipc::Message& request, const ipc::Message& reply);
  // Answers a command with a CommandReplyBody (field: which field was at fault, 0 if none).
  void reply_command(const ipc::Message& request, ipc::Domain self, ipc::CommandResult result,
                     std::uint16_t field = 0, std::uint64_t entity_id = 0, std::int64_t value = 0);
  void effect(const Effect& e) { effects_.push_back(e); }
  void stock_add(std::uint32_t product_id, std::int64_t delta) {
    effect(Effect{Effect::Kind::stock_add, product_id, delta, {}});
  }

  // A read snapshot of another domain's view taken at batch start (nullptr if it cannot be
  // opened yet), and that view's environment (for its table handles).
  const journal::ReadTxn* peer(ipc::Domain d) const noexcept;
  const journal::Env* peer_env(ipc::Domain d) const noexcept;

  // --- what the state tables use -------------------------------------------------------
  void state_put(std::uint16_t tag, journal::Bytes key, journal::Bytes value) {
    journal_->add_entry(journal::Section::state, tag, key, value);
  }
  void state_del(std::uint16_t tag, journal::Bytes key) {
    journal_->add_entry(journal::Section::state, tag | state_tag_delete_bit, key, {});
  }
  // This domain's own view as of batch start, for rows not kept in memory. Every row changed
  // by a batch the view has not applied yet is still in memory (the tables keep it).
  const journal::ReadTxn* own_view() const noexcept { return own_view_; }
  std::uint64_t viewed_batch() const noexcept { return viewed_batch_; }
  // Waits until the view has applied batch `id` (a table about to forget a row whose last
  // change is younger than the view). Bounded: past the bound the process stops with a message.
  void wait_for_view(std::uint64_t id) const;

  // --- what the runtime uses -----------------------------------------------------------
  struct Send {
    ipc::Domain to;
    ipc::Message message;
  };
  // begin() sets mono_ns to now_ns; the runtime then sets the real monotonic time.
  void begin(journal::BatchBuilder& journal, std::uint64_t id, std::int64_t now_ns,
             std::uint64_t viewed_batch, const journal::ReadTxn* own_view) noexcept;
  void set_mono_ns(std::int64_t mono_ns) noexcept { mono_ns_ = mono_ns; }
  void set_peer(ipc::Domain d, const journal::Env* env, const journal::ReadTxn* txn) noexcept;
  // Where wait_for_view() reads how far the view is (the committer's counter).
  void set_view_progress(const std::atomic<std::uint64_t>* viewed) noexcept {
    view_progress_ = viewed;
  }
  journal::BatchBuilder& journal() noexcept { return *journal_; }
  std::vector<Send>& sends() noexcept { return sends_; }
  std::vector<ipc::Message>& replies() noexcept { return replies_; }
  std::vector<Effect>& effects() noexcept { return effects_; }

 private:
  journal::BatchBuilder* journal_ = nullptr;
  std::uint64_t id_ = 0;
  std::int64_t now_ns_ = 0;
  std::int64_t mono_ns_ = 0;
  std::uint64_t viewed_batch_ = 0;
  const journal::ReadTxn* own_view_ = nullptr;
  const std::atomic<std::uint64_t>* view_progress_ = nullptr;
  std::vector<Send> sends_;
  std::vector<ipc::Message> replies_;
  std::vector<Effect> effects_;
  std::array<const journal::ReadTxn*, domain_count + 1> peers_{};
  std::array<const journal::Env*, domain_count + 1> peer_envs_{};
};

}  // namespace flashsaga::domains
