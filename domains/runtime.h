// runtime: the agent that runs one domain's logic over its rings and its journal.
//
// Requires: an attached Deployment, the domain's journal Env (writer), a DomainLogic.
// Guarantees (the shape of every domain process, STYLE.md rule 10/11):
//   1. do_work() drains each input ring up to drain_count_max messages;
//   2. validates each message (an invalid one is journaled as message_invalid, logged once
//      per edge, and set aside — never half-applied) and drops duplicates by (edge, sequence);
//   3. applies the batch in ONE write transaction: the logic's state changes and journal
//      records, the inbox positions, and the outgoing messages (outbox) commit together;
//   4. only after the commit: applies side effects to shared memory (stock counters), publishes
//      the outbox to the rings, releases the input slots, and acknowledges its inputs;
//   5. on restart: re-sends the outbox beyond what each consumer acknowledged.
//   Replies to ports are not outboxed: a port that dies does not need them, and a request
//   whose reply is lost is retried by its client with the same Idempotency-Key.
//   A commit that fails for lack of map space grows the map and retries the batch; one that
//   fails for lack of disk marks the domain degraded, leaves the inputs in their rings
//   (back-pressure, not loss) and retries with back-off.
//
// Example (a domain process's main):
//   MyLogic logic(...);
//   Runtime rt(config, deployment, env, logic);
//   if (!rt.recover(&error)) die(error);
//   rt.run(stop_flag);
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/deployment.h"
#include "ipc/idle_strategy.h"
#include "ipc/message.h"
#include "domains/rows.h"
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

class DomainLogic {
 public:
  virtual ~DomainLogic() = default;
  virtual ipc::Domain domain() const noexcept = 0;
  // Tables this domain owns (the runtime adds its own: counters, inbox, outseq, outbox).
  virtual std::vector<std::string> tables() const = 0;
  // Domains whose journals this one reads (read-only), e.g. order reads user and coupon.
  virtual std::vector<ipc::Domain> peers() const { return {}; }
  // Called once after the env is open and again after any aborted batch: rebuild in-memory
  // state (timers, caches) from the committed journal.
  virtual journal::Status recover(journal::Env& env, const journal::ReadTxn& txn) = 0;
  // Applies one valid, non-duplicate input message.
  virtual journal::Status apply(Batch& batch, const ipc::Message& in) = 0;
  // Called once per batch, inside it: deadlines and other timed work. Adds what it did to
  // *work. Must do a bounded amount per call.
  virtual journal::Status tick(Batch& batch, std::size_t* work) {
    (void)batch;
    (void)work;
    return {};
  }
  // Whether tick() has anything due (so an idle domain can tell whether to run a batch).
  virtual bool tick_due(std::int64_t now_ns) const noexcept {
    (void)now_ns;
    return false;
  }
  // When tick() will next have something due (wall clock ns; INT64_MAX: nothing scheduled),
  // so an idle domain parks exactly that long instead of waking to poll.
  virtual std::int64_t next_due_ns() const noexcept { return INT64_MAX; }
  // Called after a batch committed, before its messages are published.
  virtual void committed() {}
  // Called at the start of each duty cycle, outside any transaction; may return false to
  // say "do not consume inputs now" (e.g. the product domain while reconciling stock).
  virtual bool before_batch() { return true; }
};

class Runtime {
 public:
  Runtime(const engine::Config& config, engine::Deployment& deployment, journal::Env& env,
          DomainLogic& logic);
  ~Runtime();

  // Opens peers, runs logic.recover(), loads the unacknowledged outbox and publishes what
  // fits. False with *error on a journal error the domain cannot start with.
  bool recover(std::string* error);

  // One duty cycle. Returns how much work was done (messages consumed + published + ticks).
  std::size_t do_work();

  // Runs duty cycles until *stop is set, parking on the doorbell when idle; heartbeats and
  // status in the control block. Drains what is in the rings before returning.
  void run(const std::atomic<bool>& stop);

  engine::Deployment& deployment() noexcept { return deployment_; }
  const engine::Config& config() const noexcept { return config_; }
  engine::DomainStatus& status() noexcept;

 private:
  struct Input;
  struct Output;
  journal::Status run_batch(std::size_t* consumed, std::size_t* ticked);
  std::size_t publish_pending();
  journal::Status prune_outbox(journal::WriteTxn& txn);
  bool any_input_readable();
  bool outputs_backed_up() const;
  void open_peers();
  // Enters or leaves the degraded state: status and the control block's degraded mask.
  void set_degraded(bool degraded);

  const engine::Config& config_;
  engine::Deployment& deployment_;
  journal::Env& env_;
  DomainLogic& logic_;
  ipc::Domain self_;
  std::vector<Input> inputs_;
  std::vector<Output> outputs_;
  std::vector<ipc::RingProducer> reply_producers_;  // index = port
  std::uint64_t reply_sequence_ = 0;
  std::vector<std::pair<ipc::Domain, std::unique_ptr<journal::Env>>> peer_envs_;
  std::vector<std::pair<ipc::Domain, journal::ReadTxn>> peer_txns_;
  Batch batch_;
  journal::TableId t_counters_ = 0, t_inbox_ = 0, t_outseq_ = 0, t_outbox_ = 0;
  ipc::IdleStrategy idle_;
  std::int64_t backoff_until_ns_ = 0;
  bool degraded_ = false;
};

// A row of the runtime's "inbox" table (key: edge index): the last input sequence applied on
// that edge, committed in the batch that applied it. segment_id scopes port edges, whose
// sequences restart with each shared-memory segment; domain edges store 0 (their sequences
// come from the producer's outbox and survive everything). Readers (check) use it to tell a
// message still on its way from a lost one.
struct InboxEntry {
  std::int64_t segment_id;
  std::uint64_t last_sequence;
};
static_assert(sizeof(InboxEntry) == 16 && is_row_v<InboxEntry>);

// Runtime tables every domain has, besides its own.
std::vector<std::string> runtime_tables();
// all_tables(Domain), the table names a reader must open, is in rows.h.

// Persistent counters (e.g. "next_id") in the runtime's counters table.
journal::Status counter_get(const journal::ReadTxn& txn, journal::TableId table, std::string_view name,
                            std::uint64_t& value);
journal::Status counter_put(journal::WriteTxn& txn, journal::TableId table, std::string_view name,
                            std::uint64_t value);

}  // namespace flashsaga::domains
