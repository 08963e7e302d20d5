#include "domains/batch.h"

#include "engine/base/assert.h"

namespace flashsaga::domains {

using ipc::Domain;
using ipc::Message;

void Batch::begin(journal::WriteTxn& txn, std::int64_t now_ns) noexcept {
  txn_ = &txn;
  now_ns_ = now_ns;
  sends_.clear();
  replies_.clear();
  deltas_.clear();
}

void Batch::reply(const Message& request, const Message& reply) {
  Message m = reply;
  m.header.correlation = request.header.correlation;
  m.header.port = request.header.port;
  m.header.order_id = m.header.order_id != 0 ? m.header.order_id : request.header.order_id;
  replies_.push_back(m);
}

void Batch::reply_command(const Message& request, Domain self, ipc::CommandResult result, std::uint16_t field,
                          std::uint64_t entity_id, std::int64_t value) {
  ipc::CommandReplyBody body{};
  body.result = static_cast<std::uint16_t>(result);
  body.field = field;
  body.entity_id = entity_id;
  body.value = value;
  reply(request, ipc::make_message(ipc::MessageType::command_reply, self, Domain::port, body));
}

const journal::ReadTxn* Batch::peer(Domain d) const noexcept {
  const auto i = static_cast<std::size_t>(d);
  return i < peers_.size() ? peers_[i] : nullptr;
}

const journal::Env* Batch::peer_env(Domain d) const noexcept {
  const auto i = static_cast<std::size_t>(d);
  return i < peer_envs_.size() ? peer_envs_[i] : nullptr;
}

void Batch::set_peer(Domain d, const journal::Env* env, const journal::ReadTxn* txn) noexcept {
  const auto i = static_cast<std::size_t>(d);
  FS_ASSERT(i < peers_.size());
  peers_[i] = txn;
  peer_envs_[i] = env;
}

}  // namespace flashsaga::domains
