// sim_node: one domain process of the deterministic simulator — the real DomainLogic, Agent,
// Committer and recovery (engine/runtime/) over its own journal and view environments and a
// SimTransport, stepped by the scheduler instead of runtime::Runtime's two threads.
//
// The node keeps the runtime's pipeline: batch_buffers_max BatchBuffers circulate between the
// business stage (run_business: one Agent::run_batch into a free buffer) and the committing
// stage, whose group of applied batches goes through, one call each:
//
//   idle ─form─> grouped ─write_journal─> journaled ─write_view─> viewed ─publish─> idle
//
// The scheduler decides when each operation happens, so the business stage runs up to
// batch_buffers_max batches ahead of the disk and other nodes act between any two operations.
// A crash (crash()) can therefore land anywhere: applied batches not journaled are lost with
// the process's memory, a journaled group is recovered (the view catches up from the journal),
// a viewed group whose publish did not happen loses its effects and replies and re-sends its
// messages, a publish cut short by SimTransport::die_after() let out only part of them.
// restart() is runtime::Runtime::start() step for step: reopen both environments, a new logic,
// runtime::recover(), then Agent::resume, Committer::resume and a flush of the re-sends.
// A commit that fails (an injected fault, or map_full) is retried with the same group, as the
// runtime does; the node counts as degraded (ports refuse orders) until a commit succeeds.
//
// Requires: a Network, SimWorld and PeerViews that outlive the node; a factory that builds the
//   domain's logic (called again after every crash: a crash is a new process); a per-seed
//   directory on tmpfs.
// Guarantees: nothing here reads a clock, spawns a thread or iterates in address order.
//
// Example:
//   SimNode node(Domain::coupon, dir, [] { return std::make_unique<CouponDomain>(); }, net,
//                world, peers);
//   node.restart(false);
//   node.transport().show(0, 2, now);
//   node.run_business(now);
//   node.commit(CommitUntil::published, batch_buffers_max, CommitFault::none);
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "domains/logic.h"
#include "engine/runtime/agent.h"
#include "engine/runtime/batch_buffer.h"
#include "engine/runtime/committer.h"
#include "journal/journal.h"
#include "tests/sim/sim_transport.h"

namespace flashsaga::sim {

enum class CommitStage : std::uint8_t { idle = 0, grouped = 1, journaled = 2, viewed = 3 };
std::string_view commit_stage_name(CommitStage s) noexcept;

// How far one commit() call takes the group under way.
enum class CommitUntil : std::uint8_t { journaled = 0, viewed = 1, published = 2 };

// A commit failure to inject into the next journal or view commit.
enum class CommitFault : std::uint8_t { none = 0, journal = 1, view = 2 };

struct BusinessOutcome {
  bool ran = false;     // Agent::run_batch was called
  bool filled = false;  // and handed a batch to the committing stage
  bool took_input = false;
  std::uint64_t batch = 0;
  std::size_t work = 0, messages_in = 0, duplicates = 0, records = 0;
  std::size_t sends = 0, replies = 0, effects = 0;
};

struct CommitOutcome {
  std::size_t grouped = 0;  // batches of the group this call formed (0: none formed)
  bool journaled = false, viewed = false;
  std::size_t published = 0;  // batches published
  std::size_t flushed = 0;    // messages a full ring had kept back, sent now
  std::size_t grown = 0;      // map_full: the environment's map grew and the commit was retried
  bool failed = false;        // a commit failed; the group waits for the next call
  std::string error;
  bool did_something() const noexcept {
    return grouped || journaled || viewed || published || flushed || grown || failed;
  }
};

class SimNode final : private runtime::CommitFaults {
 public:
  using Factory = std::function<std::unique_ptr<domains::DomainLogic>()>;

  SimNode(ipc::Domain domain, std::filesystem::path data_dir, Factory factory, Network& net,
          SimWorld& world, runtime::PeerViews& peers);
  ~SimNode() override;
  SimNode(const SimNode&) = delete;
  SimNode& operator=(const SimNode&) = delete;

  // Runtime::start(): empty on success, else what failed. forget_inbox (a deliberate bug):
  // the Agent resumes as if no input had ever been applied, so it hands duplicates on.
  std::string restart(bool forget_inbox);
  // The process dies now: logic, Agent, Committer, transport and environments are dropped,
  // with every batch applied and not journaled.
  void crash();
  // Closes the environments (for the checker, which must open them alone).
  void close() { crash(); }
  bool up() const noexcept { return agent_ != nullptr; }

  // --- business stage ---------------------------------------------------------------------
  // Whether a batch would find something with every ready input shown: a free buffer, and an
  // unread undelayed input or due timed work.
  bool business_due(std::int64_t now_ns) const;
  // One duty cycle of the business thread (Runtime's cycle()) over what transport().show() made
  // visible; nothing when every buffer is on its way to the disk.
  BusinessOutcome run_business(std::int64_t now_ns);

  // --- committing stage -------------------------------------------------------------------
  bool commit_due() const noexcept;
  // The committing thread's next operations: forms a group of at most group_max applied
  // batches if none is under way, then commits and publishes it as far as `until`; with no
  // batch to commit, retries what full rings kept back. `fault` fails the first commit it
  // names (the group stays, as after a real failure).
  CommitOutcome commit(CommitUntil until, std::size_t group_max, CommitFault fault);
  // Drives the stage to `target` without faults (publishing a group past it first); false
  // when there is no batch to get there with.
  bool advance_to(CommitStage target);
  // Commits and publishes every applied batch (bounded), then flushes.
  void drain_commits();

  ipc::Domain domain() const noexcept { return domain_; }
  CommitStage stage() const noexcept { return stage_; }
  std::size_t applied_batches() const noexcept { return applied_.size() + group_.size(); }
  std::size_t group_size() const noexcept { return group_.size(); }
  // Transport calls the group's publish will make (effects, messages, replies, releases).
  std::size_t publish_calls() const noexcept;
  std::size_t backlog() const noexcept { return committer_ ? committer_->backlog() : 0; }
  bool degraded() const noexcept { return degraded_; }
  SimTransport& transport() noexcept { return *transport_; }
  const SimTransport& transport() const noexcept { return *transport_; }
  journal::Env* journal_env() noexcept { return journal_.get(); }
  journal::Env* view_env() noexcept { return view_.get(); }
  domains::DomainLogic* logic() noexcept { return logic_.get(); }
  std::uint64_t restarts() const noexcept { return restarts_; }
  // What the last restart's recovery did.
  std::uint64_t view_batches_replayed() const noexcept { return replayed_; }

 private:
  journal::Status before_commit(bool view) override;
  bool step_once(CommitOutcome& out, std::size_t group_max);
  bool write(bool view, CommitOutcome& out);
  void publish_group(CommitOutcome& out);

  ipc::Domain domain_;
  std::filesystem::path dir_;
  Factory factory_;
  Network& net_;
  SimWorld& world_;
  runtime::PeerViews& peers_;
  std::unique_ptr<journal::Env> journal_;
  std::unique_ptr<journal::Env> view_;
  std::unique_ptr<domains::DomainLogic> logic_;
  std::unique_ptr<SimTransport> transport_;
  std::unique_ptr<runtime::Agent> agent_;
  std::unique_ptr<runtime::Committer> committer_;
  std::array<runtime::BatchBuffer, runtime::batch_buffers_max> buffers_;
  std::vector<runtime::BatchBuffer*> free_;
  std::deque<runtime::BatchBuffer*> applied_;  // filled, not in a group yet, oldest first
  std::vector<runtime::BatchBuffer*> group_;   // the committing stage's group under way
  CommitStage stage_ = CommitStage::idle;
  CommitFault fault_ = CommitFault::none;
  bool degraded_ = false;
  std::uint64_t restarts_ = 0;
  std::uint64_t replayed_ = 0;
};

}  // namespace flashsaga::sim
