// user: registers and updates users; the single writer of the users and emails tables.
//
// Requires: a Batch per input (domains/logic.h); state in memory (domains/state.h).
// Guarantees:
//   - a command is validated as a whole before anything changes: a refused command changes
//     nothing and is answered invalid_field / not_found / conflict with the field at fault;
//   - e-mail addresses are unique case-insensitively: emails maps the lower-cased address to
//     the user id, and the row keeps the address as it was given;
//   - ids come from the counter "next_user_id", from 1, never reused;
//   - every accepted command changes the row and journals its record (the row as payload) in
//     the same batch.
// Memory: every user row (DenseTable) and every address (TextTable), loaded at start-up.
//
// Inputs: create_user -> command_reply {ok, entity_id = new id}
//         update_user -> command_reply {ok, entity_id = id}
//
// Example:
//   UserDomain logic;
//   runtime::Runtime rt(..., logic);  // or tests/domains/domain_harness.h
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "domains/fields.h"
#include "domains/logic.h"
#include "domains/options.h"
#include "domains/rules.h"
#include "domains/rows.h"
#include "domains/state.h"
#include "journal/journal.h"

namespace flashsaga::domains {

class UserDomain final : public DomainLogic {
 public:
  UserDomain() = default;
  explicit UserDomain(CellOptions cell) : cell_(cell) {}

  ipc::Domain domain() const noexcept override { return ipc::Domain::user; }
  std::vector<std::string> tables() const override;
  journal::Status load(const journal::Env& view, const journal::ReadTxn& txn) override;
  void apply(Batch& batch, const ipc::Message& in) override;

  // Field numbers in invalid_field / conflict replies.
  static constexpr std::uint16_t field_name = user_field::name;
  static constexpr std::uint16_t field_email = user_field::email;

 private:
  void create(Batch& batch, const ipc::Message& in);
  void update(Batch& batch, const ipc::Message& in);
  // The id the lower-cased address belongs to, or 0 when it is free.
  std::uint64_t email_owner(std::string_view lower) const;

  DenseTable<UserRow> users_;
  TextTable<std::uint64_t> emails_;
  Counter next_user_id_{"next_user_id"};
  CellOptions cell_;
};

}  // namespace flashsaga::domains
