// logic: the interface every domain's business logic implements (DomainLogic).
//
// Requires: the transport calls recover() once the journal is open (and after any aborted
//   batch), then apply() for each valid, non-duplicate input message inside a Batch, tick()
//   once per batch, and committed() after each commit.
// Guarantees (what a logic promises): it changes state only through the Batch's transaction,
//   sends only through the Batch, and does a bounded amount of work per call.
//
// Example:
//   class UserDomain final : public DomainLogic { ... };
//   runtime::Runtime rt(options, deployment, env, logic);
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "domains/batch.h"
#include "ipc/message.h"
#include "journal/journal.h"

namespace flashsaga::domains {

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

}  // namespace flashsaga::domains
