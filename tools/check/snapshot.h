// snapshot: how the checker looks at a deployment — per domain its view (rows) and its journal
// (records, cursors), read in one pair of snapshots, with the view brought up to the journal.
//
// The runtime commits a batch to the journal first and applies it to the view right after, so
// a live view may trail its journal by a batch or two. The view is read first, then the
// journal: the view's position (ViewPosition) can then never honestly be past the journal's
// end. The state entries of the batches the view has not applied yet (after its position) are
// gathered into an overlay, and every row the checker reads comes through it: rows and records
// then describe the same moment, the journal's end, exactly as the view will once caught up.
// A view that cannot be overlaid (ahead of its journal, or built from another journal) is
// read as it is and reported by the checker.
//
// Requires: a deployment's data directory; each domain's environments were probed
//   (tools/check/probe.h) before they are opened here.
// Guarantees: read-only. Every Status names the domain and environment. An overlay entry of a
//   table the domain does not have is a corrupt journal (reported, not guessed at).
//
// Example:
//   std::array<DomainEnvs, 7> envs;
//   if (std::string e = open_deployment(data, envs); !e.empty()) fail(e);
//   DomainSnapshot s;
//   if (journal::Status st = take_snapshot(Domain::order, envs[6], s); !st.ok())
//   fail(st.message()); scan_view(s, envs[6], "orders", [](journal::Bytes key, journal::Bytes row)
//   { ...; return true; });
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domains/rows.h"
#include "ipc/message.h"
#include "journal/journal.h"

namespace flashsaga::tools {

struct DomainEnvs {
  std::unique_ptr<journal::Env> journal;  // <data>/<domain>/journal: the journal and cursors
  std::unique_ptr<journal::Env> view;     // <data>/<domain>/view: the read model
};

// Probes and opens both environments of each of the six domains. Returns "" or one line
// naming the domain, the environment and its path, and what is wrong.
std::string open_deployment(const std::filesystem::path& data_dir, std::array<DomainEnvs, 7>& out);

// The rows a view does not hold yet: table tag -> key -> value (nullopt: deleted).
using StateOverlay =
    std::map<std::uint16_t, std::map<std::string, std::optional<std::vector<std::byte>>>>;

struct DomainSnapshot {
  ipc::Domain domain = ipc::Domain::none;
  journal::ReadTxn view;
  journal::ReadTxn journal;
  domains::ViewPosition position{};  // zero if the view has none yet
  std::uint64_t journal_end = 0;     // the journal's last sequence in this snapshot
  std::int64_t journal_created_ns = 0;
  bool overlaid = false;        // the overlay brings the view to journal_end
  std::string overlay_problem;  // why it cannot (the position ends inside a batch)
  StateOverlay overlay;
  std::uint64_t overlay_batches = 0;
};

// Takes the pair of snapshots (view first) and builds the overlay. Returns ok, or the first
// read error (naming the environment).
journal::Status take_snapshot(ipc::Domain d, const DomainEnvs& envs, DomainSnapshot& out);

// The state-entry tag of a view table (its index in all_tables(d); counters: the runtime's
// counters tag), or nullopt for a name the domain does not have.
std::optional<std::uint16_t> view_table_tag(ipc::Domain d, std::string_view table);

// Visits every row of a view table as of the journal's end (overlay applied): the view's rows
// in key order, then the overlay's puts. fn returns false to stop. Returns ok or the read error.
journal::Status scan_view(const DomainSnapshot& s, const DomainEnvs& envs, std::string_view table,
                          const std::function<bool(journal::Bytes key, journal::Bytes value)>& fn);

// One row of a view table as of the journal's end. Returns ok, not_found, or the read error.
journal::Status get_view(const DomainSnapshot& s, const DomainEnvs& envs, std::string_view table,
                         journal::Bytes key, std::vector<std::byte>& out);

// Where each domain stood when its snapshot was taken: (journal end, view position) pairs, to
// tell a deployment that moved meanwhile from a still one.
using Positions = std::array<std::pair<std::uint64_t, std::uint64_t>, 7>;
Positions positions_now(const std::array<DomainEnvs, 7>& envs);

}  // namespace flashsaga::tools
