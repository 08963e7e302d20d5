// runtime: the agent that runs one domain's logic over its rings and its journal.
//
// Requires: an attached Deployment, the domain's journal Env (writer), a DomainLogic, and
//   RuntimeOptions naming the data directory (where the peers' journals are).
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
//   Runtime rt(RuntimeOptions{.data_dir = "data"}, deployment, env, logic);
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

#include <filesystem>
#include <utility>

#include "domains/batch.h"
#include "domains/logic.h"
#include "domains/rows.h"
#include "ipc/deployment.h"
#include "ipc/idle_strategy.h"
#include "ipc/message.h"
#include "journal/journal.h"

namespace flashsaga::runtime {

using domains::Batch;
using domains::DomainLogic;

// What the runtime needs of the deployment's settings.
struct RuntimeOptions {
  std::filesystem::path data_dir;  // <data_dir>/<domain>: the peers' journals, opened read-only
};

class Runtime {
 public:
  Runtime(const RuntimeOptions& options, ipc::Deployment& deployment, journal::Env& env,
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

  ipc::Deployment& deployment() noexcept { return deployment_; }
  ipc::DomainStatus& status() noexcept;

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

  RuntimeOptions options_;
  ipc::Deployment& deployment_;
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

}  // namespace flashsaga::runtime
