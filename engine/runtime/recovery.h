// recovery: how a domain process starts from what its journal and view hold.
//
// In order:
//   1. the view: if it was built from another journal (a reset), or is ahead of the journal
//      (a journal restored from a copy), every view table is emptied and rebuilt; then every
//      journal batch after the view's position has its state entries applied (in bounded
//      transactions), so the view holds exactly the journal's state;
//   2. the logic loads what it keeps in memory from the view (DomainLogic::load);
//   3. the runtime's cursors: for each input the last sequence applied (a port edge of another
//      shared-memory segment starts afresh), for each output the last sequence sent and what
//      its consumer acknowledged;
//   4. the outbox: every message committed and not acknowledged — found from each output's
//      resend_from batch on — is queued to go out again (consumers drop what they already
//      applied, by sequence).
// The time this takes is bounded by the journal written since the view's last commit (a few
// batches after a crash; the whole journal only when the view must be rebuilt) plus what the
// logic loads (its per-user tables and the recent window of orders).
//
// Requires: the journal and view environments opened as writers by this process; the
//   transport attached (its acked() tells what survived in shared memory).
// Guarantees: on ok, `out` holds where the Agent and the Committer resume; on error nothing was
//   half-applied that a later start could not redo (view transactions commit whole).
#pragma once

#include <cstdint>
#include <string>

#include "domains/logic.h"
#include "engine/runtime/agent.h"
#include "engine/runtime/committer.h"
#include "engine/runtime/transport.h"
#include "journal/journal.h"

namespace flashsaga::runtime {

struct Recovered {
  AgentStart agent;
  CommitterStart committer;
  std::uint64_t view_batches_replayed = 0;
  bool view_rebuilt = false;
};

// Batches applied to the view per transaction while catching up.
inline constexpr std::size_t recovery_view_batches_per_txn = 256;

journal::Status recover(journal::Env& journal, journal::Env& view, const ViewTables& tables,
                        domains::DomainLogic& logic, Transport& transport, Recovered& out);

}  // namespace flashsaga::runtime
