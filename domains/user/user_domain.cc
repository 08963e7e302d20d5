#include "domains/user/user_domain.h"

#include <array>

#include "engine/base/assert.h"
#include "engine/base/limits.h"

namespace flashsaga::domains {
namespace {

using ipc::CommandResult;
using ipc::Domain;
using ipc::MessageType;

constexpr std::uint16_t tag_users = 0;
constexpr std::uint16_t tag_emails = 1;
// Every address fits a view key of a state entry.
static_assert(email_size_bytes <= journal::entry_key_size_max_bytes);

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
  return {"users", "emails"};
}

journal::Status UserDomain::load(const journal::Env& view, const journal::ReadTxn& txn) {
  users_.bind(tag_users, view.table("users"));
  emails_.bind(tag_emails, view.table("emails"));
  if (journal::Status s = users_.load(txn); !s.ok()) return s;
  users_.for_each([](std::uint64_t id, const UserRow& row) { FS_ASSERT(row.id == id); });
  emails_.reserve(users_.max_id());  // about one address per user
  if (journal::Status s = emails_.load(txn); !s.ok()) return s;
  return next_user_id_.load(view, txn);
}

void UserDomain::apply(Batch& batch, const ipc::Message& in) {
  switch (static_cast<MessageType>(in.header.type)) {
    case MessageType::create_user:
      return create(batch, in);
    case MessageType::update_user:
      return update(batch, in);
    default:
      return;  // not for this domain: nothing to do
  }
}

std::uint64_t UserDomain::email_owner(std::string_view lower) const {
  const std::uint64_t* owner = emails_.find(lower);
  return owner != nullptr ? *owner : 0;
}

void UserDomain::create(Batch& batch, const ipc::Message& in) {
  const auto body = ipc::body_as<ipc::CreateUserBody>(in);
  if (!user_name_valid(body.name.view())) {
    return batch.reply_command(in, Domain::user, CommandResult::invalid_field, field_name, 0);
  }
  if (!user_email_valid(body.email.view())) {
    return batch.reply_command(in, Domain::user, CommandResult::invalid_field, field_email, 0);
  }
  const LowerEmail lower(body.email.view());
  if (email_owner(lower.view()) != 0) {
    return batch.reply_command(in, Domain::user, CommandResult::conflict, field_email, 0);
  }
  const std::uint64_t next = next_user_id_.value();
  // Absent or zero: the sequence starts at 1. A cluster cell takes the next id of its own.
  const std::uint64_t id = cell_.own_id_from(next == 0 ? 1 : next);
  if (id >= user_ids_max)
    return batch.reply_command(in, Domain::user, CommandResult::unavailable, 0, 0);
  FS_ASSERT(!users_.contains(id));
  next_user_id_.set(batch, id + 1);

  UserRow row{};
  row.id = id;
  row.created_ns = batch.now_ns();
  row.updated_ns = batch.now_ns();
  row.name = body.name;
  row.email = body.email;
  users_.put(batch, id, row);
  emails_.put(batch, lower.view(), id);
  batch.record(RecordType::user_created, 0, row);
  batch.reply_command(in, Domain::user, CommandResult::ok, 0, id);
}

void UserDomain::update(Batch& batch, const ipc::Message& in) {
  const auto body = ipc::body_as<ipc::UpdateUserBody>(in);
  const UserRow* found = body.user_id == 0 ? nullptr : users_.find(body.user_id);
  if (found == nullptr) {
    return batch.reply_command(in, Domain::user, CommandResult::not_found, 0, body.user_id);
  }
  UserRow row = *found;
  FS_ASSERT(row.id == body.user_id);

  // Validate every field first, so a refused update changes nothing.
  if (body.set_name == 1 && !user_name_valid(body.name.view())) {
    return batch.reply_command(in, Domain::user, CommandResult::invalid_field, field_name, row.id);
  }
  const bool email_changes = body.set_email == 1 && body.email.view() != row.email.view();
  if (email_changes && !user_email_valid(body.email.view())) {
    return batch.reply_command(in, Domain::user, CommandResult::invalid_field, field_email, row.id);
  }
  const LowerEmail old_lower(row.email.view());
  const LowerEmail new_lower(email_changes ? body.email.view() : row.email.view());
  const bool key_moves = new_lower.view() != old_lower.view();
  if (key_moves) {
    const std::uint64_t owner = email_owner(new_lower.view());
    if (owner != 0 && owner != row.id) {
      return batch.reply_command(in, Domain::user, CommandResult::conflict, field_email, row.id);
    }
  }

  if (body.set_name == 1) row.name = body.name;
  if (email_changes) row.email = body.email;
  if (body.set_blocked == 1) row.blocked = body.blocked;
  row.updated_ns = batch.now_ns();
  if (key_moves) {
    emails_.del(batch, old_lower.view());
    emails_.put(batch, new_lower.view(), row.id);
  }
  users_.put(batch, row.id, row);
  batch.record(RecordType::user_updated, 0, row);
  batch.reply_command(in, Domain::user, CommandResult::ok, 0, row.id);
}

}  // namespace flashsaga::domains
