// link_state: what a cell link must remember across restarts, in <data>/cells/link.state.
//
//   inbox[e]  the last sequence of edge e (home cell e's catalog) this cell has applied, in
//             order: a redelivery at or below it is a duplicate (acked, not applied again);
//   acked[c]  the last sequence of this cell's own catalog that cell c confirmed it applied
//             (its end-to-end ack): the outbox keeps everything above the smallest.
//   lease_inbox[e]  the last sequence of the lease edge from cell e to this cell applied;
//   lease_acked[c]  the last sequence of the lease edge from this cell to cell c that c
//             confirmed (the lease outbox to c keeps everything above it).
//
// Guarantees: save() replaces the file atomically (write, fsync, rename, fsync dir), so a crash
//   leaves the old or the new state, never a mix. A missing file is the empty state.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

#include "engine/cluster.h"

namespace flashsaga::cells {

struct LinkState {
  std::array<std::uint64_t, engine::cells_max> inbox{};
  std::array<std::uint64_t, engine::cells_max> acked{};
  std::array<std::uint64_t, engine::cells_max> lease_inbox{};
  std::array<std::uint64_t, engine::cells_max> lease_acked{};
};

bool load_link_state(const std::filesystem::path& file, LinkState& out, std::string* error);
bool save_link_state(const std::filesystem::path& file, const LinkState& state, std::string* error);

}  // namespace flashsaga::cells
