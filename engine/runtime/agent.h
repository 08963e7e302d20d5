// agent: the business stage of a domain — inputs -> logic -> one BatchBuffer.
//
// One duty cycle takes up to drain_count_max messages from each input, checks each one
// (ipc::validate; an invalid message is journaled as message_invalid, logged once per edge and
// set aside), drops duplicates by (edge, sequence), hands the rest to the domain logic, runs
// its timed work, then numbers and seals the batch's messages (one edge sequence each, one
// clock read for the batch) and fills the BatchBuffer the Committer makes durable. Nothing of
// the batch leaves the process here: the agent only advances its read positions.
//
// Requires: the business thread only; resume() once, with what recovery found, before the
//   first run_batch().
// Guarantees: message sequences on each output edge increase by one with no gap; the journal
//   records of consecutive batches have consecutive sequences; a batch that changed nothing
//   (no record, no message, no input consumed) fills nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "domains/logic.h"
#include "engine/runtime/batch_buffer.h"
#include "engine/runtime/transport.h"
#include "journal/journal.h"

namespace flashsaga::runtime {

// Where the agent opens other domains' views (read-only, lazily: a peer that has not created
// its view yet is retried at the next batch).
class PeerViews {
 public:
  virtual ~PeerViews() = default;
  virtual const journal::Env* open(ipc::Domain d) = 0;  // nullptr: not there yet
};

struct AgentStart {
  std::uint64_t next_record_sequence = 1;
  std::int64_t last_record_time_ns = 0;
  std::uint64_t last_batch_id = 0;
  std::vector<std::uint64_t> last_applied;   // per input: last sequence applied
  std::vector<std::uint64_t> out_sequences;  // per output: last sequence assigned
};

class Agent {
 public:
  Agent(domains::DomainLogic& logic, Transport& transport, const journal::Env* own_view,
        PeerViews* peers, std::uint32_t drain_count_max);

  void resume(const AgentStart& start);

  // Applies one batch into `out` (cleared first) if there is anything to do: inputs
  // (unless take_input is false), due timed work. Returns the work done (messages consumed
  // plus timed work); *filled tells whether `out` now holds a batch for the Committer.
  // now_ns is the wall clock (what records and messages carry); mono_ns the monotonic clock
  // the logic's deadlines run on (Batch::mono_ns). The overload without mono_ns uses now_ns
  // for both (the simulator and the domain tests have one clock).
  std::size_t run_batch(BatchBuffer& out, std::uint64_t viewed_batch, bool take_input,
                        std::int64_t now_ns, std::int64_t mono_ns, bool* filled);
  std::size_t run_batch(BatchBuffer& out, std::uint64_t viewed_batch, bool take_input,
                        std::int64_t now_ns, bool* filled) {
    return run_batch(out, viewed_batch, take_input, now_ns, now_ns, filled);
  }

  // Whether a batch would find something: a readable input or due timed work (mono_ns: the
  // clock deadlines run on).
  bool has_work(std::int64_t mono_ns);

  std::uint64_t last_batch_id() const noexcept { return batch_id_; }
  // Where the logic's tables learn how far the view is when they must wait for it.
  void set_view_progress(const std::atomic<std::uint64_t>* viewed) noexcept {
    batch_.set_view_progress(viewed);
  }
  domains::DomainLogic& logic() noexcept { return logic_; }

 private:
  struct Input {
    std::uint64_t last_applied = 0;
    bool warned_invalid = false;
  };
  void begin_reads(BatchBuffer& out, std::uint64_t viewed_batch, std::int64_t now_ns,
                   std::int64_t mono_ns);
  void end_reads();
  std::size_t consume(BatchBuffer& out, std::size_t input, std::size_t count);
  void set_aside(std::size_t input, std::size_t offset, const ipc::Message& m,
                 ipc::MessageError err);
  void seal_outputs(BatchBuffer& out, std::int64_t now_ns);

  domains::DomainLogic& logic_;
  Transport& transport_;
  const journal::Env* own_view_;
  PeerViews* peers_;
  std::uint32_t drain_count_max_;
  ipc::Domain self_;
  std::vector<ipc::Domain> peer_domains_;
  std::vector<Input> inputs_;
  std::vector<std::size_t> counts_;  // per input: messages taken by the batch under way
  std::vector<std::uint64_t> out_sequences_;
  std::vector<int> output_of_domain_;  // index = Domain value; -1: no edge
  std::uint64_t next_record_sequence_ = 1;
  std::int64_t last_record_time_ns_ = 0;
  std::uint64_t batch_id_ = 0;
  std::uint64_t reply_sequence_ = 0;
  domains::Batch batch_;
  journal::ReadTxn own_txn_;
  std::vector<journal::ReadTxn> peer_txns_;  // index = position in peer_domains_
};

}  // namespace flashsaga::runtime
