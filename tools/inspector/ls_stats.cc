// `flashsaga journal ls` and `flashsaga journal stats`: each domain's two environments (the
// journal and its view), and what the journals hold.
#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>

#include "domains/journal_open.h"
#include "tools/check/check.h"
#include "tools/inspector/inspector.h"
#include "tools/inspector/reading.h"

namespace flashsaga::tools {

using domains::RecordType;
using ipc::Domain;

namespace {

constexpr std::size_t stats_minutes_max = 1440;  // rate rows shown (the last day)
constexpr std::int64_t ns_per_minute = 60'000'000'000;

constexpr std::size_t idx(Domain d) {
  return static_cast<std::size_t>(d);
}

std::string time_or_dash(TimeFormatter& tf, std::int64_t ns, bool present) {
  return present ? tf.format(ns) : std::string("-");
}

std::string map_use(const journal::EnvStats& st) {
  const double use = st.map_size_bytes == 0 ? 0.0
                                            : 100.0 * static_cast<double>(st.used_bytes) /
                                                  static_cast<double>(st.map_size_bytes);
  return fmt::format("{:.1f}% of {}", use, format_bytes(st.map_size_bytes));
}

// What data.mdb takes on disk (its blocks: a writer's file can be as long as its map).
std::string disk_use(const std::filesystem::path& dir) {
  struct stat st {};
  if (::stat((dir / "data.mdb").c_str(), &st) != 0) return "-";
  return format_bytes(static_cast<std::uint64_t>(st.st_blocks) * 512);
}

// Where a view stands against its journal: "end", "N (M behind)", "N (AHEAD of E)".
std::string view_at(const journal::Env* view, const journal::EnvStats& journal) {
  if (view == nullptr) return "-";
  domains::ViewPosition p{};
  if (!read_view_position(*view, p).ok()) return "unreadable";
  if (p.last_sequence != 0 && p.journal_created_ns != 0 &&
      p.journal_created_ns != journal.created_ns)
    return fmt::format("{} (another journal's)", p.last_sequence);
  if (p.last_sequence == journal.last_sequence) return "end";
  if (p.last_sequence < journal.last_sequence)
    return fmt::format("{} ({} behind)", p.last_sequence, journal.last_sequence - p.last_sequence);
  return fmt::format("{} (AHEAD of {})", p.last_sequence, journal.last_sequence);
}

struct Opened {
  std::unique_ptr<journal::Env> journal, view;
};

// Opens what there is; false (and a line on err) for anything but "not created yet".
bool open_present(const InspectContext& ctx, Domain d, Opened& o, std::ostream& err,
                  std::string_view command) {
  for (const bool view : {false, true}) {
    std::unique_ptr<journal::Env>& env = view ? o.view : o.journal;
    journal::Status s = view ? domains::open_view_read_only(ctx.data_dir, d, env)
                             : domains::open_journal_read_only(ctx.data_dir, d, env);
    if (s.ok() || s.code() == journal::ErrorCode::not_found) continue;
    return report_open_problem(ctx, d, view, s, err, command);
  }
  return true;
}

std::vector<std::string> ls_row(const InspectContext& ctx, Domain d, const Opened& o,
                                TimeFormatter& tf) {
  const journal::EnvStats st = o.journal->stats();
  journal::ReadTxn txn;
  std::int64_t first_ns = 0, last_ns = 0;
  std::uint64_t first_seq = 0;
  if (o.journal->begin_read(txn).ok()) {
    (void)txn.records(1, 1, [&](const journal::RecordView& r) {
      first_seq = r.sequence;
      first_ns = r.header.time_ns;
      return false;
    });
    if (st.last_sequence != 0)
      (void)txn.records(st.last_sequence, 1, [&](const journal::RecordView& r) {
        last_ns = r.header.time_ns;
        return false;
      });
  }
  const bool has_view = o.view != nullptr;
  return {std::string(ipc::domain_name(d)),
          fmt::format("{}", st.journal_records),
          first_seq ? fmt::format("{}", first_seq) : "-",
          st.last_sequence ? fmt::format("{}", st.last_sequence) : "-",
          time_or_dash(tf, first_ns, first_seq != 0),
          time_or_dash(tf, last_ns, st.last_sequence != 0),
          fmt::format("{}", st.journal_batches),
          view_at(o.view.get(), st),
          disk_use(env_dir(ctx, d, false)),
          map_use(st),
          has_view ? disk_use(env_dir(ctx, d, true)) : "-",
          has_view ? map_use(o.view->stats()) : "-",
          std::string(journal::durability_name(st.durability)),
          fmt::format("{}/{}", st.readers_used, st.readers_max)};
}

}  // namespace

// --- ls ----------------------------------------------------------------------------------------

int journal_ls(const InspectContext& ctx, std::ostream& out, std::ostream& err) {
  if (std::string p = data_dir_problem(ctx.data_dir); !p.empty()) {
    err << "flashsaga journal ls: " << p << '\n';
    return 2;
  }
  Table table(
      {"DOMAIN", "RECORDS", "FIRST", "LAST", "FIRST TIME", "LAST TIME", "BATCHES", "VIEW AT",
       "ON DISK", "MAP USE", "VIEW ON DISK", "VIEW MAP USE", "DURABILITY", "READERS"},
      {false, true, true, true, false, false, true, true, true, true, true, true, false, true});
  TimeFormatter tf;
  std::size_t present = 0;
  for (Domain d : journal_domains) {
    Opened o;
    if (!open_present(ctx, d, o, err, "journal ls")) return 2;
    if (!o.journal) {
      table.add({std::string(ipc::domain_name(d)), "-", "-", "-", "-", "-", "-", "-", "-", "-", "-",
                 "-", "-", "(no journal yet)"});
      continue;
    }
    ++present;
    table.add(ls_row(ctx, d, o, tf));
  }
  if (present == 0) {
    err << fmt::format(
        "flashsaga journal ls: {} holds no flashsaga journals (expected user/, point/, product/, "
        "coupon/, order/, payment/; check --data)\n",
        ctx.data_dir.string());
    return 2;
  }
  out << ctx.style.bold() << "journals and views in " << ctx.data_dir.string() << ctx.style.reset()
      << '\n';
  table.print(out, ctx.style);
  return 0;
}

// --- stats -------------------------------------------------------------------------------------

namespace {

bool is_compensation(RecordType t) {
  switch (t) {
    case RecordType::stock_released:
    case RecordType::coupon_released:
    case RecordType::points_refunded:
    case RecordType::points_reward_revoked:
    case RecordType::payment_refunded:
    case RecordType::payment_voided:
    case RecordType::stock_cancelled_before_apply:
    case RecordType::coupon_cancelled_before_apply:
    case RecordType::points_cancelled_before_apply:
    case RecordType::payment_cancelled_before_apply:
      return true;
    default:
      return false;
  }
}

struct StatsData {
  std::map<std::pair<Domain, std::uint16_t>, std::pair<std::uint64_t, std::int64_t>>
      by_type;  // count, amount
  std::map<std::int64_t, std::array<std::uint64_t, 7>> minutes;
  std::uint64_t total = 0;
  std::int64_t first_ns = std::numeric_limits<std::int64_t>::max();
  std::int64_t last_ns = std::numeric_limits<std::int64_t>::min();
  std::vector<std::vector<std::string>> environments;
};

void count_record(Domain dom, const journal::RecordView& r, StatsData& s) {
  auto& slot = s.by_type[{dom, r.header.type}];
  ++slot.first;
  if (record_type_known(r.header.type) &&
      record_carries_event(static_cast<RecordType>(r.header.type)) &&
      r.payload.size() == sizeof(domains::Event)) {
    domains::Event e;
    std::memcpy(&e, r.payload.data(), sizeof e);
    slot.second += e.amount;
  }
  std::int64_t minute = r.header.time_ns / ns_per_minute;
  if (r.header.time_ns < 0 && r.header.time_ns % ns_per_minute != 0) --minute;
  s.minutes[minute][idx(dom)] += 1;
  s.first_ns = std::min(s.first_ns, r.header.time_ns);
  s.last_ns = std::max(s.last_ns, r.header.time_ns);
  ++s.total;
}

void print_environments(const StatsData& s, std::ostream& out, const Style& st) {
  out << st.bold() << "journals and views (sizes: flashsaga journal ls)" << st.reset() << '\n';
  Table envs({"DOMAIN", "RECORDS", "BATCHES", "VIEW AT"}, {false, true, true, true});
  for (const auto& row : s.environments) envs.add(row);
  envs.print(out, st);
  out << '\n';
}

void print_types(const StatsData& s, std::ostream& out, const Style& st) {
  out << st.bold() << "records by type" << st.reset() << '\n';
  Table types({"DOMAIN", "TYPE", "RECORDS", "SHARE"}, {false, false, true, true});
  for (const auto& [key, v] : s.by_type) {
    const bool known = record_type_known(key.second);
    types.add({std::string(ipc::domain_name(key.first)),
               known ? std::string(domains::record_type_name(static_cast<RecordType>(key.second)))
                     : fmt::format("unknown({})", key.second),
               fmt::format("{}", v.first),
               fmt::format("{:.1f}%", s.total == 0 ? 0.0
                                                   : 100.0 * static_cast<double>(v.first) /
                                                         static_cast<double>(s.total))});
  }
  types.print(out, st);
  out << '\n' << st.bold() << "compensations" << st.reset() << '\n';
  Table comp({"DOMAIN", "KIND", "RECORDS", "UNITS/POINTS/MONEY"}, {false, false, true, true});
  for (const auto& [key, v] : s.by_type) {
    const auto t = static_cast<RecordType>(key.second);
    if (!record_type_known(key.second) || !is_compensation(t)) continue;
    const std::string_view name = domains::record_type_name(t);
    const bool gate = name.find("cancelled_before_apply") != std::string_view::npos;
    comp.add({std::string(ipc::domain_name(key.first)),
              gate ? fmt::format("{} (gate closed, nothing to undo)", name) : std::string(name),
              fmt::format("{}", v.first),
              gate || t == RecordType::coupon_released ? std::string("-")
                                                       : fmt::format("{}", v.second)});
  }
  if (comp.rows() == 0)
    out << "none\n";
  else
    comp.print(out, st);
}

void print_rates(const StatsData& s, const std::vector<Domain>& ds, std::ostream& out,
                 const Style& st) {
  TimeFormatter tf;
  out << '\n' << st.bold() << "records per second, by minute" << st.reset() << '\n';
  std::vector<std::string> head = {"MINUTE (UTC)"};
  for (Domain dom : ds) head.emplace_back(ipc::domain_name(dom));
  head.emplace_back("TOTAL");
  head.emplace_back("REC/S");
  std::vector<bool> right(head.size(), true);
  right[0] = false;
  Table rates(head, right);
  const std::size_t skipped =
      s.minutes.size() > stats_minutes_max ? s.minutes.size() - stats_minutes_max : 0;
  std::size_t k = 0;
  for (const auto& [minute, counts] : s.minutes) {
    if (k++ < skipped) continue;
    std::uint64_t sum = 0;
    std::vector<std::string> row = {tf.format(minute * ns_per_minute).substr(0, 16)};
    for (Domain dom : ds) {
      row.push_back(fmt::format("{}", counts[idx(dom)]));
      sum += counts[idx(dom)];
    }
    // A partial first or last minute is divided by the seconds it covers, not by 60.
    const std::int64_t lo = std::max(minute * ns_per_minute, s.first_ns);
    const std::int64_t hi = std::min((minute + 1) * ns_per_minute, s.last_ns + 1);
    const double seconds = std::max(1.0, static_cast<double>(hi - lo) / 1e9);
    row.push_back(fmt::format("{}", sum));
    row.push_back(fmt::format("{:.1f}", static_cast<double>(sum) / seconds));
    rates.add(std::move(row));
  }
  if (skipped != 0) out << fmt::format("({} earlier minutes not shown)\n", skipped);
  if (s.minutes.empty())
    out << "no records\n";
  else
    rates.print(out, st);
  out << fmt::format("\n{} records", s.total);
  if (s.total != 0)
    out << fmt::format(" from {} to {}", tf.format(s.first_ns), tf.format(s.last_ns));
  out << '\n';
}

}  // namespace

int journal_stats(const InspectContext& ctx, const std::string& domain, std::ostream& out,
                  std::ostream& err) {
  std::vector<Domain> ds;
  if (!resolve_domains(domain, true, ds, err, "journal stats")) return 2;
  StatsData data;
  for (Domain dom : ds) {
    std::unique_ptr<journal::Env> env, view;
    if (!open_or_report(ctx, dom, env, err, "journal stats")) return 2;
    if (!open_view_or_report(ctx, dom, view, err, "journal stats")) return 2;
    const journal::EnvStats st = env->stats();
    data.environments.push_back({std::string(ipc::domain_name(dom)),
                                 fmt::format("{}", st.journal_records),
                                 fmt::format("{}", st.journal_batches), view_at(view.get(), st)});
    journal::Status s = scan_records(*env, 1, std::numeric_limits<std::uint64_t>::max(),
                                     [&](const journal::RecordView& r) {
                                       count_record(dom, r, data);
                                       return true;
                                     });
    if (!s.ok()) {
      err << fmt::format("flashsaga journal stats: {} journal: {}\n", ipc::domain_name(dom),
                         s.message());
      return 2;
    }
  }
  print_environments(data, out, ctx.style);
  print_types(data, out, ctx.style);
  print_rates(data, ds, out, ctx.style);
  return 0;
}

}  // namespace flashsaga::tools
