// lossyfs: a FUSE file system for power-loss tests. It passes everything through to a backing
// directory but keeps every write that is not yet durable in memory, so a "power cut" can drop
// exactly what a real disk would be allowed to lose.
//
//   lossyfs [--fsync-delay-ms N] [--debug] BACKING_DIR MOUNTPOINT      (runs in the foreground)
//
// What is durable (written to the backing directory):
//   - data: a file's writes once fsync or fdatasync returns on any handle of it (msync(MS_SYNC)
//     of a shared mapping ends in the same FUSE fsync, after the kernel wrote the dirty pages
//     back), and every write through a handle opened O_SYNC or O_DSYNC, when the write returns.
//     The kernel also follows each O_SYNC / O_DSYNC write with a FUSE fsync of the whole file,
//     so on lossyfs such a write makes all of that file durable: more than a disk must do.
//   - size: a write that extends a file is not durable until synced (the durable size is the
//     backing file's size; reads see the current one).
//   - metadata, at once: create, mknod, mkdir, unlink, rmdir, rename, link, symlink, chmod,
//     chown, utimens, truncate / ftruncate / O_TRUNC, fallocate (modes 0, KEEP_SIZE, PUNCH_HOLE,
//     ZERO_RANGE; COLLAPSE / INSERT answer EOPNOTSUPP). The simplest honest model: a journaling
//     file system that commits its metadata journal at once. Unlinking a file's last link
//     forgets its unsynced pages.
//   - the backing directory is written with plain pwrite: it is never fsynced (the test only
//     needs the real machine to keep running, not to survive a power loss itself).
//   Not modelled: torn pages (a kept page is kept whole), lost metadata, reordering within a page.
// Reads see the unsynced pages over the backing file. The mount is not direct_io, keeps the
// kernel page cache across opens (nothing else writes the backing directory), and does not use
// the FUSE write-back cache, so every write(2) reaches lossyfs when it returns, and dirty pages
// of a MAP_SHARED mapping reach it on write-back (close, msync, memory pressure, 30 s timer).
// flock and POSIX locks are the kernel's own (local to this mount). Many threads serve requests.
//
// Control: the file `MOUNTPOINT/.lossyfs` (not listed by readdir). Write one command per write(2):
//   cut [keep=P] [seed=N] [age=MS]
//                           the power cut: keep a seeded share P (0..1, default 0) of the
//                           unsynced pages, and (MS > 0) every unsynced page last written to
//                           lossyfs at least MS ms ago (a disk that persisted, after a while,
//                           what the kernel wrote back: for nosync's "up to about the last 30 s"),
//                           written to the backing files in random order; drop the rest. Then
//                           every request fails with EIO, lossyfs prints `lossyfs: cut
//                           pages_dropped=.. pages_kept=.. files=.. aged=.. keep=.. seed=..`
//                           on stdout and unmounts and exits (0) within about 50 ms.
//                           Kill every process that writes to the mount first: a write that
//                           races the cut is simply lost.
//   fsync-delay MS          every later fsync / fdatasync (and O_SYNC write) takes at least MS ms
//                           before it makes anything durable (a slow disk); 0 turns it off.
// A bad command fails its write with EINVAL. Reading the file returns `key value` lines:
//   state live|cut, unsynced_pages, unsynced_files, writes, writeback_writes, durable_writes,
//   write_bytes, syncs, synced_pages, fsync_delay_ms, pid.
// SIGTERM / SIGINT unmount and exit without a cut (what was not synced stays lost: it never
// reached the backing directory).
//
// Example (as root):
//   lossyfs /tmp/backing /tmp/mnt &
//   cat /tmp/mnt/.lossyfs                          # stats
//   echo 'cut keep=0.5 seed=7' > /tmp/mnt/.lossyfs # power cut; lossyfs unmounts and exits
#pragma once

#include <string_view>

namespace flashsaga::lossyfs {

inline constexpr std::string_view control_file_name = ".lossyfs";
inline constexpr int fsync_delay_ms_max = 60'000;
// After a cut, how long lossyfs waits for the control write's reply to leave before it exits.
inline constexpr int cut_exit_delay_ms = 50;

}  // namespace flashsaga::lossyfs
