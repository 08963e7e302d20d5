// reading: how the inspector walks journals and views — domains by name, friendly open errors,
// chunked scans that refresh their snapshot, and a binary search by time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "domains/rows.h"
#include "ipc/message.h"
#include "journal/journal.h"
#include "tools/inspector/inspector.h"

namespace flashsaga::tools {

// A long scan releases its snapshot and takes a fresh one every this many records, so a reader
// never pins the writer's old pages for the whole of a ten-million-record export.
inline constexpr std::size_t scan_chunk_records = std::size_t{1} << 18;

// "all" -> the six domains; a domain name -> that one. False (and a line on err) otherwise.
bool resolve_domains(const std::string& name, bool allow_all, std::vector<ipc::Domain>& out,
                     std::ostream& err, std::string_view command);

// Opens one journal; on failure writes "flashsaga <command>: <why>" to err and returns false.
bool open_or_report(const InspectContext& ctx, ipc::Domain d, std::unique_ptr<journal::Env>& env,
                    std::ostream& err, std::string_view command);
// The same for a domain's view (its rows).
bool open_view_or_report(const InspectContext& ctx, ipc::Domain d,
                         std::unique_ptr<journal::Env>& env, std::ostream& err,
                         std::string_view command);

// Writes why an environment did not open ("flashsaga <command>: ..."; a damaged one named with
// its domain and path) and returns false.
bool report_open_problem(const InspectContext& ctx, ipc::Domain d, bool view,
                         const journal::Status& s, std::ostream& err, std::string_view command);

// <data>/<domain>/journal or <data>/<domain>/view.
std::filesystem::path env_dir(const InspectContext& ctx, ipc::Domain d, bool view);

// A view's position (zero if it has none yet). Returns ok or the read error.
journal::Status read_view_position(const journal::Env& view, domains::ViewPosition& out);

// Visits records with from <= sequence <= to (to is capped at the last sequence of the first
// snapshot, so a scan of a live journal ends), in chunks of fresh snapshots. fn returns false
// to stop. Returns the first error (corrupt names the sequence).
journal::Status scan_records(const journal::Env& env, std::uint64_t from, std::uint64_t to,
                             const std::function<bool(const journal::RecordView&)>& fn);

// The first sequence whose record time is >= time_ns (records are appended in time order; a
// clock step backwards only makes the answer a little early). last_sequence + 1 if none.
std::uint64_t first_sequence_at(const journal::ReadTxn& txn, std::int64_t time_ns);

// The sequence number named in a corrupt Status's message ("... at sequence N ..."), 0 if none.
std::uint64_t sequence_in_message(const std::string& message);

}  // namespace flashsaga::tools
