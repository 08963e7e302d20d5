#include "domains/batch.h"

#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "engine/base/assert.h"

namespace flashsaga::domains {

void Batch::begin(journal::BatchBuilder& journal, std::uint64_t id, std::int64_t now_ns,
                  std::uint64_t viewed_batch, const journal::ReadTxn* own_view) noexcept {
  journal_ = &journal;
  id_ = id;
  now_ns_ = now_ns;
  mono_ns_ = now_ns;
  viewed_batch_ = viewed_batch;
  own_view_ = own_view;
  sends_.clear();
  replies_.clear();
  effects_.clear();
  peers_.fill(nullptr);
  peer_envs_.fill(nullptr);
}

void Batch::reply(const ipc::Message& request, const ipc::Message& reply) {
  ipc::Message m = reply;
  m.header.correlation = request.header.correlation;
  m.header.port = request.header.port;
  m.header.order_id = m.header.order_id != 0 ? m.header.order_id : request.header.order_id;
  replies_.push_back(m);
}

void Batch::reply_command(const ipc::Message& request, ipc::Domain self, ipc::CommandResult result,
                          std::uint16_t field, std::uint64_t entity_id, std::int64_t value) {
  ipc::CommandReplyBody body{};
  body.result = static_cast<std::uint16_t>(result);
  body.field = field;
  body.entity_id = entity_id;
  body.value = value;
  reply(request, ipc::make_message(ipc::MessageType::command_reply, self, ipc::Domain::port, body,
                                   ipc::stamp_at_seal));
}

const journal::ReadTxn* Batch::peer(ipc::Domain d) const noexcept {
  const auto i = static_cast<std::size_t>(d);
  return i < peers_.size() ? peers_[i] : nullptr;
}

const journal::Env* Batch::peer_env(ipc::Domain d) const noexcept {
  const auto i = static_cast<std::size_t>(d);
  return i < peer_envs_.size() ? peer_envs_[i] : nullptr;
}

void Batch::set_peer(ipc::Domain d, const journal::Env* env, const journal::ReadTxn* txn) noexcept {
  const auto i = static_cast<std::size_t>(d);
  FS_ASSERT(i < peers_.size());
  peers_[i] = txn;
  peer_envs_[i] = env;
}

void Batch::wait_for_view(std::uint64_t id) const {
  // The view trails by a few batches; this bound is an alarm for a committer that is stuck
  // (a disk that stopped answering), not a schedule.
  constexpr std::uint64_t yield_count_max = 100'000'000;
  FS_ASSERT(view_progress_ != nullptr);
  for (std::uint64_t n = 0; n < yield_count_max; ++n) {
    if (view_progress_->load(std::memory_order_acquire) >= id) return;
    ::sched_yield();
  }
  std::fprintf(stderr,
               "flashsaga[%d]: the view has not applied batch %llu for a long time; stopping\n",
               static_cast<int>(::getpid()), static_cast<unsigned long long>(id));
  std::_Exit(70);
}

}  // namespace flashsaga::domains
