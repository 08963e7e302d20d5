#include "tools/check/snapshot.h"

#include <fmt/format.h>

#include <limits>

#include "domains/batch.h"
#include "domains/journal_open.h"
#include "journal/batch.h"
#include "tools/check/check.h"
#include "tools/check/probe.h"

namespace flashsaga::tools {
namespace {

using ipc::Domain;

constexpr std::size_t idx(Domain d) {
  return static_cast<std::size_t>(d);
}

std::string key_string(journal::Bytes key) {
  return std::string(reinterpret_cast<const char*>(key.data()), key.size());
}

journal::Bytes bytes_of(const std::string& s) {
  return journal::Bytes(reinterpret_cast<const std::byte*>(s.data()), s.size());
}

journal::Status named(Domain d, std::string_view env, const journal::Status& s) {
  if (s.ok()) return s;
  return journal::Status(s.code(), s.lmdb_rc(),
                         fmt::format("{} {}: {}", ipc::domain_name(d), env, s.message()));
}

journal::Status read_position(const DomainEnvs& envs, const journal::ReadTxn& view,
                              domains::ViewPosition& out) {
  out = domains::ViewPosition{};
  const journal::TableId counters = envs.view->table(domains::view_counters_table_name);
  journal::Status s = view.get_as(counters, journal::as_bytes(domains::view_position_key), out);
  if (s.code() == journal::ErrorCode::not_found) return {};
  return s;
}

// The state entries of the journal's batches after the view's position, later ones winning.
journal::Status build_overlay(DomainSnapshot& s) {
  const std::uint64_t from = s.position.last_sequence + 1;
  journal::Status inner;
  bool first = true;
  journal::Status st = s.journal.batches(
      from, std::numeric_limits<std::size_t>::max(), [&](const journal::BatchView& b) {
        if (first && b.first_sequence != from) {
          s.overlay_problem =
              fmt::format("its position {} ends inside the journal batch at sequence {}",
                          s.position.last_sequence, b.first_sequence);
          return false;
        }
        first = false;
        ++s.overlay_batches;
        inner = journal::for_each_entry(b, journal::Section::state, [&](const journal::Entry& e) {
          const auto tag = static_cast<std::uint16_t>(e.tag & ~domains::state_tag_delete_bit);
          auto& slot = s.overlay[tag][key_string(e.key)];
          if ((e.tag & domains::state_tag_delete_bit) != 0) {
            slot.reset();
            return;
          }
          slot.emplace(e.value_size);
          e.copy_value(slot->data());
        });
        return inner.ok();
      });
  return st.ok() ? inner : st;
}

}  // namespace

std::string open_deployment(const std::filesystem::path& data_dir, std::array<DomainEnvs, 7>& out) {
  for (Domain d : journal_domains) {
    for (const bool view : {false, true}) {
      const std::string_view what = view ? "view" : "journal";
      const std::filesystem::path dir = data_dir / ipc::domain_name(d) / what;
      if (const EnvProbe p = probe_environment(dir); !p.sound)
        return fmt::format("the {} {} ({}) is corrupt: {}; see flashsaga journal verify",
                           ipc::domain_name(d), what, dir.string(), p.problem);
      std::unique_ptr<journal::Env>& env = view ? out[idx(d)].view : out[idx(d)].journal;
      const journal::Status s = view ? domains::open_view_read_only(data_dir, d, env)
                                     : domains::open_journal_read_only(data_dir, d, env);
      if (const std::string damage = environment_damage(s); !damage.empty())
        return fmt::format("the {} {} ({}) is corrupt: {}; see flashsaga journal verify",
                           ipc::domain_name(d), what, dir.string(), damage);
      if (!s.ok()) return s.message();
    }
  }
  return {};
}

journal::Status take_snapshot(Domain d, const DomainEnvs& envs, DomainSnapshot& out) {
  out.domain = d;
  out.overlay.clear();
  out.overlay_batches = 0;
  out.overlaid = false;
  out.overlay_problem.clear();
  if (journal::Status s = envs.view->begin_read(out.view); !s.ok()) return named(d, "view", s);
  if (journal::Status s = read_position(envs, out.view, out.position); !s.ok())
    return named(d, "view position", s);
  if (journal::Status s = envs.journal->begin_read(out.journal); !s.ok())
    return named(d, "journal", s);
  out.journal_end = out.journal.last_sequence();
  out.journal_created_ns = envs.journal->stats().created_ns;
  const bool foreign = out.position.journal_created_ns != 0 &&
                       out.position.journal_created_ns != out.journal_created_ns;
  if (foreign || out.position.last_sequence > out.journal_end) return {};  // the checker reports it
  if (journal::Status s = build_overlay(out); !s.ok()) return named(d, "journal", s);
  out.overlaid = out.overlay_problem.empty();
  if (!out.overlaid) out.overlay.clear();
  return {};
}

std::optional<std::uint16_t> view_table_tag(Domain d, std::string_view table) {
  if (table == domains::view_counters_table_name) return domains::state_tag_counters;
  const std::vector<std::string> tables = domains::all_tables(d);
  for (std::size_t i = 0; i < tables.size(); ++i)
    if (tables[i] == table) return static_cast<std::uint16_t>(i);
  return std::nullopt;
}

journal::Status scan_view(const DomainSnapshot& s, const DomainEnvs& envs, std::string_view table,
                          const std::function<bool(journal::Bytes, journal::Bytes)>& fn) {
  const std::optional<std::uint16_t> tag = view_table_tag(s.domain, table);
  static const std::map<std::string, std::optional<std::vector<std::byte>>> none;
  const auto found = tag ? s.overlay.find(*tag) : s.overlay.end();
  const auto& overlay = found == s.overlay.end() ? none : found->second;
  bool stopped = false;
  journal::Status st =
      s.view.scan(envs.view->table(table), {}, std::numeric_limits<std::size_t>::max(),
                  [&](journal::Bytes key, journal::Bytes value) {
                    if (!overlay.empty() && overlay.count(key_string(key)) != 0) return true;
                    stopped = !fn(key, value);
                    return !stopped;
                  });
  if (!st.ok()) return named(s.domain, "view", st);
  for (const auto& [key, value] : overlay) {
    if (stopped) break;
    if (!value) continue;
    stopped = !fn(bytes_of(key), journal::Bytes(value->data(), value->size()));
  }
  return {};
}

journal::Status get_view(const DomainSnapshot& s, const DomainEnvs& envs, std::string_view table,
                         journal::Bytes key, std::vector<std::byte>& out) {
  if (const std::optional<std::uint16_t> tag = view_table_tag(s.domain, table)) {
    if (auto t = s.overlay.find(*tag); t != s.overlay.end()) {
      if (auto k = t->second.find(key_string(key)); k != t->second.end()) {
        if (!k->second) return journal::Status(journal::ErrorCode::not_found, 0, "deleted");
        out = *k->second;
        return {};
      }
    }
  }
  journal::Bytes value;
  journal::Status st = s.view.get(envs.view->table(table), key, value);
  if (!st.ok()) return st;
  out.assign(value.begin(), value.end());
  return {};
}

Positions positions_now(const std::array<DomainEnvs, 7>& envs) {
  Positions p{};
  for (Domain d : journal_domains) {
    const DomainEnvs& e = envs[idx(d)];
    journal::ReadTxn view, journal;
    domains::ViewPosition position{};
    if (e.view->begin_read(view).ok()) (void)read_position(e, view, position);
    const std::uint64_t end = e.journal->begin_read(journal).ok() ? journal.last_sequence() : 0;
    p[idx(d)] = {end, position.last_sequence};
  }
  return p;
}

}  // namespace flashsaga::tools
