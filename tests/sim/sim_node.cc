#include "tests/sim/sim_node.h"

#include <algorithm>
#include <span>

#include "domains/rows.h"
#include "engine/base/assert.h"
#include "engine/runtime/recovery.h"

namespace flashsaga::sim {
namespace {

using ipc::Domain;
using runtime::BatchBuffer;

// A commit that fails for lack of map space grows the map and is retried at once, like
// Runtime::commit_group; past this many attempts the failure waits for the next call.
constexpr std::uint32_t commit_attempts_max = 8;
// advance_to(): operations to reach a stage (at most one full turn of the stage cycle, twice).
constexpr std::uint32_t stage_steps_max = 8;
// drain_commits(): groups committed at most (each takes at least one batch).
constexpr std::uint32_t drain_groups_max = 2 * runtime::batch_buffers_max;

journal::Options env_options(Domain d, const std::filesystem::path& data_dir, bool view) {
  journal::Options o;
  o.dir = data_dir / std::string(ipc::domain_name(d)) / (view ? "view" : "journal");
  o.domain = std::string(ipc::domain_name(d));
  o.durability = journal::Durability::nosync;
  o.space_reserve_bytes = std::size_t{256} << 10;  // on tmpfs a reservation is real memory
  if (view) {
    // Like Config::view_options: mapped at its largest from the start (a sparse file on tmpfs).
    o.map_size_bytes = std::size_t{64} << 20;
    o.map_size_max_bytes = o.map_size_bytes;
    o.tables = domains::all_tables(d);
  } else {
    // LMDB's smallest map: a seed of a few thousand steps fills it (map_full, grow, retry).
    o.map_size_bytes = std::size_t{1} << 20;
    o.map_size_max_bytes = std::size_t{256} << 20;
    o.tables = domains::journal_tables();
  }
  return o;
}

}  // namespace

std::string_view commit_stage_name(CommitStage s) noexcept {
  switch (s) {
    case CommitStage::idle:
      return "idle";
    case CommitStage::grouped:
      return "grouped";
    case CommitStage::journaled:
      return "journaled";
    case CommitStage::viewed:
      return "viewed";
  }
  return "unknown";
}

SimNode::SimNode(Domain domain, std::filesystem::path data_dir, Factory factory, Network& net,
                 SimWorld& world, runtime::PeerViews& peers)
    : domain_(domain),
      dir_(std::move(data_dir)),
      factory_(std::move(factory)),
      net_(net),
      world_(world),
      peers_(peers) {}

SimNode::~SimNode() {
  crash();
}

void SimNode::crash() {
  agent_.reset();
  committer_.reset();
  logic_.reset();
  transport_.reset();
  view_.reset();
  journal_.reset();
  applied_.clear();
  group_.clear();
  free_.clear();
  stage_ = CommitStage::idle;
  fault_ = CommitFault::none;
  degraded_ = false;  // a restarted runtime clears its degraded bit and finds out for itself
  // The read position is process memory: what was read and not released comes again.
  const ipc::Node self = ipc::domain_node(domain_);
  for (Edge& e : net_.edges)
    if (e.to == self) e.read = e.released;
}

std::string SimNode::restart(bool forget_inbox) {
  crash();
  ++restarts_;
  journal::Status s = journal::Env::open(env_options(domain_, dir_, false), journal_);
  if (!s.ok()) return "cannot open journal: " + s.message();
  if (s = journal::Env::open(env_options(domain_, dir_, true), view_); !s.ok())
    return "cannot open view: " + s.message();
  logic_ = factory_();
  FS_ASSERT(logic_ && logic_->domain() == domain_);
  transport_ = std::make_unique<SimTransport>(domain_, net_, world_);
  runtime::ViewTables tables;
  for (const std::string& t : logic_->tables()) tables.by_tag.push_back(view_->table(t));
  tables.counters = view_->table(domains::view_counters_table_name);
  runtime::Recovered r;
  if (s = runtime::recover(*journal_, *view_, tables, *logic_, *transport_, r); !s.ok())
    return "recovery failed: " + s.message();
  replayed_ = r.view_batches_replayed;
  const std::vector<std::uint64_t> truth = r.agent.last_applied;
  if (forget_inbox) std::fill(r.agent.last_applied.begin(), r.agent.last_applied.end(), 0);
  transport_->resume(r.agent.last_applied, truth);
  agent_ =
      std::make_unique<runtime::Agent>(*logic_, *transport_, view_.get(), &peers_, drain_count_max);
  agent_->resume(r.agent);
  committer_ =
      std::make_unique<runtime::Committer>(*journal_, *view_, *transport_, tables, nullptr);
  committer_->set_faults(this);
  committer_->resume(std::move(r.committer));
  agent_->set_view_progress(committer_->viewed_counter());
  committer_->flush();
  for (BatchBuffer& b : buffers_) free_.push_back(&b);
  return {};
}

bool SimNode::business_due(std::int64_t now_ns) const {
  if (!up() || free_.empty()) return false;
  for (std::size_t i = 0; i < transport_->inputs().size(); ++i) {
    const Edge& e = net_.edges[static_cast<std::size_t>(transport_->inputs()[i].edge)];
    if (e.unread() > 0 && e.delayed_until_ns <= now_ns) return true;
  }
  return logic_->tick_due(now_ns);
}

BusinessOutcome SimNode::run_business(std::int64_t now_ns) {
  BusinessOutcome out;
  if (!up() || free_.empty()) return out;  // every buffer is on its way to the disk
  // Runtime::Impl::cycle(): no input while the logic says so or while the outboxes back up.
  const std::size_t headroom = std::size_t{drain_count_max} * (transport_->inputs().size() + 1);
  out.took_input = logic_->before_batch() && committer_->backlog() + headroom <= outbox_pending_max;
  BatchBuffer* b = free_.back();
  out.ran = true;
  out.work = agent_->run_batch(*b, committer_->viewed_batch(), out.took_input, now_ns, &out.filled);
  transport_->hide_all();
  if (!out.filled) return out;
  free_.pop_back();
  applied_.push_back(b);
  out.batch = b->id;
  out.messages_in = b->messages_in;
  out.duplicates = b->duplicate;
  out.records = b->journal.record_count();
  out.sends = b->sends.size();
  out.replies = b->replies.size();
  out.effects = b->effects.size();
  return out;
}

bool SimNode::commit_due() const noexcept {
  return up() && (!applied_.empty() || stage_ != CommitStage::idle || committer_->backlog() > 0);
}

journal::Status SimNode::before_commit(bool view) {
  const CommitFault wanted = view ? CommitFault::view : CommitFault::journal;
  if (fault_ != wanted) return {};
  fault_ = CommitFault::none;
  return journal::Status(journal::ErrorCode::io, 5, "simulated commit failure");
}

bool SimNode::write(bool view, CommitOutcome& out) {
  journal::Env& env = view ? *view_ : *journal_;
  const std::span<BatchBuffer* const> group(group_);
  for (std::uint32_t attempt = 0; attempt < commit_attempts_max; ++attempt) {
    const journal::Status s =
        view ? committer_->write_view(group) : committer_->write_journal(group);
    if (s.ok()) {
      degraded_ = false;
      return true;
    }
    if (s.code() == journal::ErrorCode::map_full && env.grow().ok()) {
      ++out.grown;  // Runtime::handle_failure: a grown map is retried at once
      continue;
    }
    out.failed = true;
    out.error = std::string(view ? "view: " : "journal: ") + s.message();
    degraded_ = true;  // Runtime::handle_failure: intake paused until a commit succeeds
    return false;
  }
  out.failed = true;
  out.error = view ? "view: map cannot grow" : "journal: map cannot grow";
  degraded_ = true;
  return false;
}

void SimNode::publish_group(CommitOutcome& out) {
  for (BatchBuffer* b : group_) {
    committer_->publish(*b);
    free_.push_back(b);
  }
  out.published += group_.size();
  group_.clear();
  stage_ = CommitStage::idle;
}

std::size_t SimNode::publish_calls() const noexcept {
  std::size_t n = backlog();
  for (const BatchBuffer* b : group_) {
    n += b->effects.size() + b->sends.size() + b->replies.size();
    for (const BatchBuffer::InputMark& mark : b->inputs) n += mark.moved ? 1 : 0;
  }
  return n;
}

bool SimNode::step_once(CommitOutcome& out, std::size_t group_max) {
  switch (stage_) {
    case CommitStage::idle: {
      if (applied_.empty()) return false;
      const std::size_t n = std::clamp<std::size_t>(group_max, 1, applied_.size());
      for (std::size_t k = 0; k < n; ++k) {
        group_.push_back(applied_.front());
        applied_.pop_front();
      }
      out.grouped = n;
      stage_ = CommitStage::grouped;
      return true;
    }
    case CommitStage::grouped:
      if (!write(false, out)) return false;
      out.journaled = true;
      stage_ = CommitStage::journaled;
      return true;
    case CommitStage::journaled:
      if (!write(true, out)) return false;
      out.viewed = true;
      stage_ = CommitStage::viewed;
      return true;
    case CommitStage::viewed:
      publish_group(out);
      return true;
  }
  return false;
}

CommitOutcome SimNode::commit(CommitUntil until, std::size_t group_max, CommitFault fault) {
  CommitOutcome out;
  if (!up()) return out;
  if (stage_ == CommitStage::idle && applied_.empty()) {
    out.flushed = committer_->flush();  // the committing thread's idle look at full rings
    return out;
  }
  fault_ = fault;
  const CommitStage stop = until == CommitUntil::journaled ? CommitStage::journaled
                           : until == CommitUntil::viewed  ? CommitStage::viewed
                                                           : CommitStage::idle;
  for (std::uint32_t n = 0; n < stage_steps_max; ++n) {
    if (!step_once(out, group_max)) break;
    if (stage_ == stop) break;
  }
  fault_ = CommitFault::none;
  return out;
}

bool SimNode::advance_to(CommitStage target) {
  if (!up()) return false;
  CommitOutcome out;
  for (std::uint32_t n = 0; n < stage_steps_max && stage_ != target; ++n)
    if (!step_once(out, runtime::batch_buffers_max)) return false;
  return stage_ == target;
}

void SimNode::drain_commits() {
  if (!up()) return;
  for (std::uint32_t g = 0;
       g < drain_groups_max && (stage_ != CommitStage::idle || !applied_.empty()); ++g)
    (void)commit(CommitUntil::published, runtime::batch_buffers_max, CommitFault::none);
  (void)committer_->flush();
}

}  // namespace flashsaga::sim
