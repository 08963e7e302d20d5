// link: the cell link — the one process of a cluster cell that talks to NATS JetStream
// (`flashsaga cells`, started by the supervisor only when the cell runs with --cluster).
//
// It attaches to its cell like a client-library attachment (a port on the shared-memory
// rings) and moves fixed-layout 256-byte messages between the cell's domains and JetStream:
//
//   catalog out  every product this cell is home of (id % cells == cell), read from the
//                product view, is published as ReplicateProduct on `fs.catalog.<cell>` (stream
//                FS_CATALOG, R = nats.replicas) with Nats-Msg-Id `catalog<cell>:<sequence>`,
//                sequence = its rank among the cell's own products (stable, from 1). The
//                outbox keeps it until every other cell's end-to-end ack covers it, re-sending
//                it meanwhile (server dedupe covers a re-send inside the window, the
//                consumer's inbox one after it). A PubAck alone trims nothing.
//   catalog in   a durable pull consumer `catalog-cell<cell>` on `fs.catalog.*`; each other
//                home's messages are applied in sequence order: the product domain journals
//                the replica and answers after its commit; then the inbox cursor (edge =
//                home cell, sequence) is saved, then the JetStream message is acked, then a
//                CellAck (what this cell committed) goes to `fs.ack.<home>` (stream FS_ACK).
//                At or below the cursor: a duplicate, acked and re-confirmed; above cursor+1:
//                a gap, left unacked so JetStream redelivers in order.
//   acks in      a durable pull consumer `ack-cell<cell>` on `fs.ack.<cell>` advances acked[]
//                (engine/cells/link_state.h), which trims the outbox; a CellAck whose edge is
//                65536 + cell advances lease_acked[] instead.
//   leases       (docs/cells.md) every 100 ms: the product view's lease_out rows not yet
//                confirmed go out on `fs.lease.<to>` (stream FS_LEASE) with Nats-Msg-Id
//                `lease<cell>-<to>:<sequence>`, re-sent until the CellAck; for each product
//                of another home, a LeaseRequest when its counter is at or below the low-water
//                mark, and a return command to the own product domain once its lease expired.
//                A durable pull consumer `lease-cell<cell>` on `fs.lease.<cell>` takes requests
//                (to the product domain, then acked) and grants/returns (in edge order, with
//                the lease_inbox[] cursor, exactly as catalog in). On exit it logs its lease
//                traffic.
//
// Guarantees: nothing is acked to JetStream before the LMDB commit that applied it; a crash
//   anywhere re-delivers or re-sends, and both ends drop duplicates; single-host deployments
//   never start this process. Stops on SIGTERM/SIGINT.
#pragma once

#include "engine/config.h"

namespace flashsaga::cells {

int run_cell_link(const engine::Config& config);

}  // namespace flashsaga::cells
