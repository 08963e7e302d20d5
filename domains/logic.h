// logic: the interface every domain's business logic implements (DomainLogic).
//
// Requires: the runtime calls load() once its view is caught up with the journal, then
//   apply() for each valid, non-duplicate input message inside a Batch (domains/batch.h),
//   tick() and end_batch() once per batch, viewed() before each batch.
// Guarantees (what a logic promises): it changes state only through its state tables
//   (domains/state.h) and the Batch, sends only through the Batch, and does a bounded amount of
//   work per call. The Batch's contract says what that buys: see domains/batch.h.
//
// Example:
//   class UserDomain final : public DomainLogic { ... };
//   runtime::Runtime rt(options, deployment, logic);  // engine/runtime/runtime.h
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
  // The view tables this domain writes (readers open them by these names); a table's index
  // in this list is its state-entry tag. The runtime adds "counters".
  virtual std::vector<std::string> tables() const = 0;
  // Domains whose views this one reads, e.g. order reads user and coupon.
  virtual std::vector<ipc::Domain> peers() const { return {}; }

  // Called once at start-up, after the runtime brought the view up to the journal's end:
  // binds the tables to the view (their handles) and loads what the logic keeps in memory.
  // Returns ok, or the view's read error (the process cannot start).
  virtual journal::Status load(const journal::Env& view, const journal::ReadTxn& txn) = 0;
  // After load: ids this domain hands out start above `floor` (the order domain, after a power
  // loss whose lost orders other domains still name: runtime/recovery.h). Others ignore it.
  virtual void id_floor(std::uint64_t floor) { (void)floor; }
  // After load: the wall time of the journal's last record, when this domain last did
  // anything before this start (0: an empty journal). The order domain resumes each pending
  // order's deadline with the time it had left then: a restart does not spend the sagas' time.
  virtual void stopped_at(std::int64_t wall_ns) { (void)wall_ns; }
  // Applies one valid, non-duplicate input message.
  virtual void apply(Batch& batch, const ipc::Message& in) = 0;
  // Once per batch, inside it: deadlines and other timed work; a bounded amount per call.
  // Returns how much it did.
  virtual std::size_t tick(Batch& batch) {
    (void)batch;
    return 0;
  }
  // Whether tick() has anything due (so an idle domain can tell whether to run a batch).
  virtual bool tick_due(std::int64_t now_ns) const noexcept {
    (void)now_ns;
    return false;
  }
  // tick_due and next_due_ns are on the monotonic clock (Batch::mono_ns), never the wall one.
  // When tick() will next have something due (monotonic ns; INT64_MAX: nothing scheduled),
  // so an idle domain parks exactly that long instead of waking to poll.
  virtual std::int64_t next_due_ns() const noexcept { return INT64_MAX; }
  // Called once per batch after every input and tick(): state tables that coalesce (write one
  // entry per row per batch, however often it changed) write their entries here.
  virtual void end_batch(Batch& batch) { (void)batch; }
  // Called at the start of each batch, outside it, with the last batch the view has applied:
  // the state tables drop rows they no longer need to keep in memory.
  virtual void viewed(std::uint64_t batch_id) { (void)batch_id; }
  // Called at the start of each duty cycle; may return false to say "do not consume inputs
  // now" (e.g. the product domain while reconciling stock).
  virtual bool before_batch() { return true; }
};

}  // namespace flashsaga::domains
