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

#include <array>
#include <cstdint>
#include <string>
#include <vector>

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
  std::uint64_t id_floor = 0;  // the highest lost order id marked (mark_lost_orders), 0: none
};

// Batches applied to the view per transaction while catching up.
inline constexpr std::size_t recovery_view_batches_per_txn = 256;

// --- After a power loss under `interval` --------------------------------------------------
// Each domain's journal keeps its own synced prefix, so on a saga edge (producer P -> consumer
// C) the two ends may disagree:
//   - C applied more of the edge than P's journal still holds (P lost messages C had applied):
//     P's outbox cursor skips ahead to what C applied, so P's next message gets a sequence C has
//     not seen (without it, C's (edge, sequence) dedupe would drop P's next messages as
//     duplicates), and P's journal keeps a domains::EdgeSkip mark of it for `flashsaga check`;
//   - C applied less than P's journal says C acknowledged (C lost messages it had applied):
//     P's acknowledged mark comes back down to C's and P re-sends from the first message after
//     it (re-drive: C's gates apply what they lost, and drop by sequence what they kept).
// repair_edges does both for the seven saga edges, in one synced transaction per producer
// that changes. `journals` is indexed by ipc::Domain (null: not open, its edges are skipped).
struct EdgeRepair {
  int edge = -1;
  ipc::Domain from = ipc::Domain::none, to = ipc::Domain::none;
  std::uint64_t producer_last = 0, producer_acked = 0, consumer_applied = 0;
  bool skipped_ahead = false;     // consumer_applied > producer_last
  std::uint64_t resend_from = 0;  // != 0: re-sends from this journal batch
};

journal::Status repair_edges(const std::array<journal::Env*, 7>& journals, std::uint32_t ports,
                             std::vector<EdgeRepair>& out);

// The highest order id any record of the journal names (a bulk stock count: the last order it
// counts). A full scan: only after a power loss that an edge repair showed.
journal::Status highest_order_id(journal::Env& journal, std::uint64_t& out);
// Journals (synced) that orders [first, last] were lost by the order journal while other
// domains hold steps for them: the order domain numbers new orders above `last` (recover()
// raises its id floor) and `flashsaga check` reports their steps for an operator to decide.
journal::Status mark_lost_orders(journal::Env& order_journal, std::uint64_t first,
                                 std::uint64_t last);

journal::Status recover(journal::Env& journal, journal::Env& view, const ViewTables& tables,
                        domains::DomainLogic& logic, Transport& transport, Recovered& out);

}  // namespace flashsaga::runtime
