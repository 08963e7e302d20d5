// journal_open: opening another domain's journal to read it (gateway, client, supervisor,
// runtime peers, check, inspector, bench).
//
// Requires: a data directory laid out by the domains (<data>/<domain>, one LMDB environment
//   each, with all_tables(domain)).
// Guarantees: opens <data_dir>/<domain> read-only, never creating anything, with every table
//   of all_tables(domain). A reader follows the map size the writer recorded. On failure
//   returns the journal Status with a one-line message that says what to do: wrong path, a
//   journal of another layout version (naming both), not created yet.
//
// Example:
//   std::unique_ptr<journal::Env> env;
//   if (journal::Status s = open_journal_read_only("data", ipc::Domain::order, env); !s.ok())
//     die(s.message());
#pragma once

#include <filesystem>
#include <memory>

#include "ipc/message.h"
#include "journal/journal.h"

namespace flashsaga::domains {

journal::Status open_journal_read_only(const std::filesystem::path& data_dir, ipc::Domain domain,
                                       std::unique_ptr<journal::Env>& out);

}  // namespace flashsaga::domains
