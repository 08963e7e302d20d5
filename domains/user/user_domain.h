// user: registers and updates users; the single writer of the users and emails tables.
//
// Requires: the user environment with tables() plus the runtime's tables (counters holds
//   "next_user_id"); a Batch per input.
// Guarantees:
//   - a command is validated as a whole before anything is written: a refused command changes
//     nothing and is answered invalid_field / not_found / conflict with the field at fault;
//   - e-mail addresses are unique case-insensitively: emails maps the lower-cased address to
//     the user id, and the row keeps the address as it was given;
//   - ids come from the persistent counter, from 1, never reused;
//   - every accepted command writes the row and its journal record (the row as payload) in
//     the same batch.
//
// Inputs: create_user -> command_reply {ok, entity_id = new id}
//         update_user -> command_reply {ok, entity_id = id}
//
// Example:
//   UserDomain logic;
//   runtime::Runtime rt(options, deployment, env, logic);  // engine/runtime/runtime.h
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "domains/rows.h"
#include "domains/fields.h"
#include "domains/logic.h"
#include "domains/rules.h"
#include "journal/journal.h"

namespace flashsaga::domains {

class UserDomain final : public DomainLogic {
 public:
  UserDomain() = default;

  ipc::Domain domain() const noexcept override { return ipc::Domain::user; }
  std::vector<std::string> tables() const override;
  journal::Status recover(journal::Env& env, const journal::ReadTxn& txn) override;
  journal::Status apply(Batch& batch, const ipc::Message& in) override;

  // Field numbers in invalid_field / conflict replies.
  static constexpr std::uint16_t field_name = user_field::name;
  static constexpr std::uint16_t field_email = user_field::email;

 private:
  journal::Status create(Batch& batch, const ipc::Message& in);
  journal::Status update(Batch& batch, const ipc::Message& in);
  // The id the lower-cased address belongs to, or 0 when it is free.
  journal::Status email_owner(const journal::ReadTxn& txn, std::string_view lower,
                              std::uint64_t* owner) const;

  journal::TableId users_ = 0;
  journal::TableId emails_ = 0;
  journal::TableId counters_ = 0;
};

}  // namespace flashsaga::domains
