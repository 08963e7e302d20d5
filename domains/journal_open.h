// journal_open: opening another domain's journal or view to read it (gateway, client,
// supervisor, check, inspector, bench).
//
// Requires: a data directory laid out by the domains: <data>/<domain>/journal (the journal and
//   the runtime's cursors) and <data>/<domain>/view (the read model, all_tables(domain)).
// Guarantees: opens the environment read-only, never creating anything. A reader follows the
//   map size the writer recorded. On failure returns the journal Status with a one-line
//   message that says what to do: wrong path, a journal of another layout version (naming
//   both), not created yet.
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

// <data_dir>/<domain>/journal, with journal_tables().
journal::Status open_journal_read_only(const std::filesystem::path& data_dir, ipc::Domain domain,
                                       std::unique_ptr<journal::Env>& out);
// <data_dir>/<domain>/view, with all_tables(domain).
journal::Status open_view_read_only(const std::filesystem::path& data_dir, ipc::Domain domain,
                                    std::unique_ptr<journal::Env>& out);

}  // namespace flashsaga::domains
