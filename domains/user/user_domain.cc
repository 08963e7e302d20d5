#include "domains/user/user_domain.h"

#include <array>

#include "domains/counters.h"
#include "engine/base/assert.h"
#include "engine/base/limits.h"

namespace flashsaga::domains {
namespace {

using ipc::CommandResult;
using ipc::Domain;
using ipc::MessageType;

constexpr std::string_view table_users = "users";
constexpr std::string_view table_emails = "emails";
constexpr std::string_view counter_next_user_id = "next_user_id";

// An e-mail address lower-cased (ASCII only: that is the part mail systems fold), as a key.
struct LowerEmail {
  std::array<char, email_size_bytes> bytes{};
  std::size_t size = 0;
  explicit LowerEmail(std::string_view email) noexcept {
    FS_ASSERT(email.size() <= bytes.size());
    for (char c : email) {
      bytes[size++] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
  }
  std::string_view view() const noexcept { return {bytes.data(), size}; }
};

}  // namespace

std::vector<std::string> UserDomain::tables() const {
  return {std::string(table_users), std::string(table_emails)};
}

journal::Status UserDomain::recover(journal::Env& env, const journal::ReadTxn& txn) {
  (void)txn;  // nothing in memory: every command reads its rows in the batch
  users_ = env.table(table_users);
  emails_ = env.table(table_emails);
  counters_ = env.table("counters");
  return {};
}

journal::Status UserDomain::apply(Batch& batch, const ipc::Message& in) {
  switch (static_cast<MessageType>(in.header.type)) {
    case MessageType::create_user: return create(batch, in);
    case MessageType::update_user: return update(batch, in);
    default: return {};  // not for this domain: nothing to do
  }
}

journal::Status UserDomain::email_owner(const journal::ReadTxn& txn, std::string_view lower,
                                        std::uint64_t* owner) const {
  *owner = 0;
  journal::Status s = txn.get_as(emails_, journal::as_bytes(lower), *owner);
  if (s.code() == journal::ErrorCode::not_found) {
    *owner = 0;
    return {};
  }
  return s;
}

journal::Status UserDomain::create(Batch& batch, const ipc::Message& in) {
  const auto body = ipc::body_as<ipc::CreateUserBody>(in);
  if (!user_name_valid(body.name.view())) {
    batch.reply_command(in, Domain::user, CommandResult::invalid_field, field_name, 0);
    return {};
  }
  if (!user_email_valid(body.email.view())) {
    batch.reply_command(in, Domain::user, CommandResult::invalid_field, field_email, 0);
    return {};
  }
  const LowerEmail lower(body.email.view());
  std::uint64_t owner = 0;
  if (auto s = email_owner(batch.txn(), lower.view(), &owner); !s.ok()) return s;
  if (owner != 0) {
    batch.reply_command(in, Domain::user, CommandResult::conflict, field_email, 0);
    return {};
  }

  journal::WriteTxn& txn = batch.txn();
  std::uint64_t next = 0;
  journal::Status s = counter_get(txn, counters_, counter_next_user_id, next);
  if (!s.ok() && s.code() != journal::ErrorCode::not_found) return s;
  const std::uint64_t id = next == 0 ? 1 : next;  // absent or zero: the sequence starts at 1
  if (s = counter_put(txn, counters_, counter_next_user_id, id + 1); !s.ok()) return s;

  UserRow row{};
  row.id = id;
  row.created_ns = batch.now_ns();
  row.updated_ns = batch.now_ns();
  row.name = body.name;
  row.email = body.email;
  if (s = txn.put_as(users_, journal::key_u64(id), row); !s.ok()) return s;
  if (s = txn.put_as(emails_, journal::as_bytes(lower.view()), id); !s.ok()) return s;
  if (s = batch.record(RecordType::user_created, 0, row); !s.ok()) return s;
  batch.reply_command(in, Domain::user, CommandResult::ok, 0, id);
  return {};
}

journal::Status UserDomain::update(Batch& batch, const ipc::Message& in) {
  const auto body = ipc::body_as<ipc::UpdateUserBody>(in);
  journal::WriteTxn& txn = batch.txn();
  UserRow row{};
  journal::Status s = body.user_id == 0
                          ? journal::Status(journal::ErrorCode::not_found, 0, "user id 0")
                          : txn.get_as(users_, journal::key_u64(body.user_id), row);
  if (s.code() == journal::ErrorCode::not_found) {
    batch.reply_command(in, Domain::user, CommandResult::not_found, 0, body.user_id);
    return {};
  }
  if (!s.ok()) return s;
  FS_ASSERT(row.id == body.user_id);

  // Validate every field first, so a refused update changes nothing.
  if (body.set_name == 1 && !user_name_valid(body.name.view())) {
    batch.reply_command(in, Domain::user, CommandResult::invalid_field, field_name, row.id);
    return {};
  }
  const bool email_changes = body.set_email == 1 && body.email.view() != row.email.view();
  if (email_changes && !user_email_valid(body.email.view())) {
    batch.reply_command(in, Domain::user, CommandResult::invalid_field, field_email, row.id);
    return {};
  }
  const LowerEmail old_lower(row.email.view());
  const LowerEmail new_lower(email_changes ? body.email.view() : row.email.view());
  const bool key_moves = new_lower.view() != old_lower.view();
  if (key_moves) {
    std::uint64_t owner = 0;
    if (s = email_owner(txn, new_lower.view(), &owner); !s.ok()) return s;
    if (owner != 0 && owner != row.id) {
      batch.reply_command(in, Domain::user, CommandResult::conflict, field_email, row.id);
      return {};
    }
  }

  if (body.set_name == 1) row.name = body.name;
  if (email_changes) row.email = body.email;
  if (body.set_blocked == 1) row.blocked = body.blocked;
  row.updated_ns = batch.now_ns();
  if (key_moves) {
    if (s = txn.del(emails_, journal::as_bytes(old_lower.view())); !s.ok()) return s;
    if (s = txn.put_as(emails_, journal::as_bytes(new_lower.view()), row.id); !s.ok()) return s;
  }
  if (s = txn.put_as(users_, journal::key_u64(row.id), row); !s.ok()) return s;
  if (s = batch.record(RecordType::user_updated, 0, row); !s.ok()) return s;
  batch.reply_command(in, Domain::user, CommandResult::ok, 0, row.id);
  return {};
}

}  // namespace flashsaga::domains
