#include "tools/inspector/reading.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "domains/journal_open.h"
#include "tools/check/check.h"
#include "tools/check/probe.h"

namespace flashsaga::tools {

bool resolve_domains(const std::string& name, bool allow_all, std::vector<ipc::Domain>& out,
                     std::ostream& err, std::string_view command) {
  out.clear();
  if (allow_all && name == "all") {
    out.assign(journal_domains.begin(), journal_domains.end());
    return true;
  }
  const ipc::Domain d = parse_domain_name(name);
  if (d == ipc::Domain::none) {
    err << fmt::format(
        "flashsaga {}: unknown domain '{}' (user, point, product, coupon, order, payment{})\n",
        command, name, allow_all ? " or all" : "");
    return false;
  }
  out.push_back(d);
  return true;
}

bool report_open_problem(const InspectContext& ctx, ipc::Domain d, bool view,
                         const journal::Status& s, std::ostream& err, std::string_view command) {
  if (const std::string damage = environment_damage(s); !damage.empty()) {
    err << fmt::format(
        "flashsaga {}: the {} {} ({}) is corrupt: {}; see flashsaga journal verify\n", command,
        ipc::domain_name(d), view ? "view" : "journal", env_dir(ctx, d, view).string(), damage);
    return false;
  }
  err << fmt::format("flashsaga {}: {}\n", command, s.message());
  return false;
}

namespace {

bool open_env_or_report(const InspectContext& ctx, ipc::Domain d, bool view,
                        std::unique_ptr<journal::Env>& env, std::ostream& err,
                        std::string_view command) {
  if (std::string p = data_dir_problem(ctx.data_dir); !p.empty()) {
    err << fmt::format("flashsaga {}: {}\n", command, p);
    return false;
  }
  journal::Status s = view ? domains::open_view_read_only(ctx.data_dir, d, env)
                           : domains::open_journal_read_only(ctx.data_dir, d, env);
  return s.ok() || report_open_problem(ctx, d, view, s, err, command);
}

}  // namespace

bool open_or_report(const InspectContext& ctx, ipc::Domain d, std::unique_ptr<journal::Env>& env,
                    std::ostream& err, std::string_view command) {
  return open_env_or_report(ctx, d, false, env, err, command);
}

bool open_view_or_report(const InspectContext& ctx, ipc::Domain d,
                         std::unique_ptr<journal::Env>& env, std::ostream& err,
                         std::string_view command) {
  return open_env_or_report(ctx, d, true, env, err, command);
}

std::filesystem::path env_dir(const InspectContext& ctx, ipc::Domain d, bool view) {
  return ctx.data_dir / ipc::domain_name(d) / (view ? "view" : "journal");
}

journal::Status read_view_position(const journal::Env& view, domains::ViewPosition& out) {
  out = domains::ViewPosition{};
  journal::ReadTxn txn;
  if (journal::Status s = view.begin_read(txn); !s.ok()) return s;
  journal::Status s = txn.get_as(view.table(domains::view_counters_table_name),
                                 journal::as_bytes(domains::view_position_key), out);
  return s.code() == journal::ErrorCode::not_found ? journal::Status{} : s;
}

journal::Status scan_records(const journal::Env& env, std::uint64_t from, std::uint64_t to,
                             const std::function<bool(const journal::RecordView&)>& fn) {
  journal::ReadTxn txn;
  journal::Status s = env.begin_read(txn);
  if (!s.ok()) return s;
  to = std::min(to, txn.last_sequence());
  std::uint64_t next = std::max<std::uint64_t>(from, 1);
  bool stopped = false;
  while (!stopped && next <= to) {
    std::size_t seen = 0;
    s = txn.records(next, scan_chunk_records, [&](const journal::RecordView& r) {
      if (r.sequence > to) {
        stopped = true;
        return false;
      }
      ++seen;
      next = r.sequence + 1;
      if (!fn(r)) {
        stopped = true;
        return false;
      }
      return true;
    });
    if (!s.ok()) return s;
    if (seen < scan_chunk_records) break;  // the journal ended (or stopped) inside this chunk
    s = env.begin_read(txn);               // a fresh snapshot for the next chunk
    if (!s.ok()) return s;
  }
  return {};
}

std::uint64_t first_sequence_at(const journal::ReadTxn& txn, std::int64_t time_ns) {
  const std::uint64_t last = txn.last_sequence();
  std::uint64_t lo = 1, hi = last + 1;  // answer in [lo, hi]
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    std::int64_t t = std::numeric_limits<std::int64_t>::max();
    std::uint64_t at = mid;
    const journal::Status s = txn.records(mid, 1, [&](const journal::RecordView& r) {
      t = r.header.time_ns;
      at = r.sequence;
      return false;
    });
    if (!s.ok()) return lo;  // a corrupt record: let the caller's scan report it
    if (t >= time_ns) {
      hi = mid;
    } else {
      lo = std::max(at, mid) + 1;
    }
  }
  return lo;
}

std::uint64_t sequence_in_message(const std::string& message) {
  constexpr std::string_view marker = "at sequence ";
  const std::size_t at = message.find(marker);
  if (at == std::string::npos) return 0;
  std::uint64_t v = 0;
  for (std::size_t i = at + marker.size();
       i < message.size() && message[i] >= '0' && message[i] <= '9'; ++i)
    v = v * 10 + static_cast<std::uint64_t>(message[i] - '0');
  return v;
}

}  // namespace flashsaga::tools
