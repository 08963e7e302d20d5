// view_open: opening a domain's view (its read model) so that it is never trusted after it may
// have lost writes.
//
// A view is never synced while the domain runs: it is rebuilt from the journal whenever its
// file may be missing writes the page cache held, which only a power loss (or a lost file
// system) does. The view records, in its counters table, the lifetime it was last written in:
//   "view_lifetime" -> {segment id, boot id hash, clean}
// (and in the file <view dir>.lifetime, synced, read before LMDB opens the view: a view whose
// lifetime is over is set aside without being opened, as reading a torn view can make LMDB
// abort) where the segment id is the deployment's shared-memory segment (gone after a power loss,
// like the page cache) and clean = 1 is written and synced at a graceful stop. At start-up the
// view is trusted when it opens and either its lifetime is the current one (same segment, same
// boot: only processes died, the page cache is intact) or it was closed cleanly. Otherwise —
// and whenever it does not open (MDB_INVALID, MDB_CORRUPTED) — the view directory is moved
// aside and a fresh view is created, which recovery then fills from the whole journal. Before
// anything else is written, the lifetime is rewritten as the current one with clean = 0 and
// synced, so a later power loss can never find a stale clean mark.
//
// Views in memory (memory_dir not empty, config deployment.views = "memory", the default): the
// view's environment lives on tmpfs, in memory_dir (<view_memory_root>/<deployment>/<domain>),
// and options.dir (<data>/<domain>/view) is a symbolic link to it, so every reader — the
// gateway, the peers, `check`, the inspector — opens it by the same path as on disk. A view
// in memory costs no disk writes and no writeback; a reboot empties it, and it is rebuilt from
// the journal, as after a power loss. The lifetime file stays on disk beside the link. Each
// deployment's directory holds an `owner` file naming its data directory, so that
// remove_orphan_memory_views() can free the views of deployments whose data directory is gone.
//
// Requires: this process is the domain's only writer (its lock is held); options name the
//   view's tables, counters included.
// Guarantees: on ok, *out is open and trustworthy; *rebuilt says whether it starts empty.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "journal/journal.h"

namespace flashsaga::runtime {

struct ViewLifetime {
  std::int64_t segment_id;
  std::uint64_t boot_id;
  std::uint8_t clean;
  std::uint8_t reserved[7];
};
static_assert(sizeof(ViewLifetime) == 24);

// A hash of this boot's /proc/sys/kernel/random/boot_id (0 if it cannot be read).
std::uint64_t current_boot_id() noexcept;

// memory_dir: where the view lives in memory, or empty for a view on disk at options.dir. A new
// view goes to memory only where the memory file system has 256 MiB free; otherwise it stays
// on disk and *why says so (with *rebuilt false).
journal::Status open_view(const journal::Options& options, const std::filesystem::path& memory_dir,
                          std::int64_t segment_id, std::unique_ptr<journal::Env>& out,
                          bool* rebuilt, std::string* why);

// Removes, under root, the in-memory views of deployments none of whose <data>/<domain>/view
// links point at them any more (the data directory was deleted, reset or moved to disk), once
// they are older than a minute (a deployment being created is never taken). Looks at no more
// than memory_views_scan_max directories. Returns how many it removed.
inline constexpr std::size_t memory_views_scan_max = 4096;
std::size_t remove_orphan_memory_views(const std::filesystem::path& root);

// At a graceful stop, after the last view commit: marks the view clean and syncs it.
journal::Status close_view_clean(journal::Env& view, std::int64_t segment_id);

}  // namespace flashsaga::runtime
