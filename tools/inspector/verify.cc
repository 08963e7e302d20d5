// `flashsaga journal verify`: every batch of every journal (framing, section checksum, the
// sections' entries, sequence continuity), every record in it (framing, CRC32C, decodability),
// and each view against its journal. An environment LMDB cannot walk (a page torn by a power
// loss) is reported with its domain and path, found first by a probe in a child process
// (tools/check/probe.h), so verify itself never aborts inside LMDB.
#include <fmt/format.h>
#include <lmdb.h>

#include <cstring>
#include <limits>

#include "domains/journal_open.h"
#include "journal/batch.h"
#include "tools/check/check.h"
#include "tools/check/probe.h"
#include "tools/inspector/inspector.h"
#include "tools/inspector/reading.h"

namespace flashsaga::tools {

using domains::RecordType;
using ipc::Domain;

namespace {

constexpr std::size_t verify_problems_max = 1000;   // per domain; the rest are counted
constexpr std::size_t verify_chunk_batches = 4096;  // a fresh snapshot every this many batches

struct VerifyResult {
  std::uint64_t records = 0, batches = 0;
  std::uint64_t first = 0, last = 0;
  std::uint64_t problems = 0;
  std::uint64_t clock_steps_back = 0;
  std::uint64_t expected = 0;  // the sequence the next batch must start at (0: unknown)
  std::int64_t last_time = std::numeric_limits<std::int64_t>::min();
  std::string view = "-";
};

class Verifier {
 public:
  Verifier(Domain d, std::ostream& out, const Style& st, VerifyResult& v)
      : d_(d), out_(out), st_(st), v_(v) {}

  void problem(std::uint64_t seq, const std::string& what) {
    if (v_.problems++ < verify_problems_max)
      out_ << fmt::format("{}{} seq {}{}: {}\n", st_.red(), ipc::domain_name(d_), seq, st_.reset(),
                          what);
  }
  void batch(journal::Bytes key, journal::Bytes value);
  void journal_env(const journal::Env& env);
  void view_env(const journal::Env& journal, const journal::Env& view);

 private:
  void record(const journal::RecordView& r);
  void records(const journal::BatchView& b);
  void sections(const journal::BatchView& b);

  Domain d_;
  std::ostream& out_;
  const Style& st_;
  VerifyResult& v_;
};

// The checks beyond framing and CRC: a type this binary knows, its payload size, the journal
// it belongs in, reserved bytes zero, the order row under its own id.
void Verifier::record(const journal::RecordView& r) {
  ++v_.records;
  if (v_.first == 0) v_.first = r.sequence;
  if (r.header.time_ns < v_.last_time) ++v_.clock_steps_back;
  v_.last_time = r.header.time_ns;
  const auto type = static_cast<RecordType>(r.header.type);
  if (!record_type_known(r.header.type))
    return problem(r.sequence,
                   fmt::format("record type {} is unknown to this flashsaga (a newer writer?)",
                               r.header.type));
  if (!payload_size_ok(type, r.payload.size()))
    return problem(r.sequence, fmt::format("{} carries {} payload bytes, its type has {}",
                                           domains::record_type_name(type), r.payload.size(),
                                           payload_size_for(type)));
  const Domain owner = domains::record_domain(type);
  if (owner != d_ && owner != Domain::none)
    problem(r.sequence, fmt::format("{} belongs in the {} journal", domains::record_type_name(type),
                                    ipc::domain_name(owner)));
  if (record_carries_event(type)) {
    domains::Event e;
    std::memcpy(&e, r.payload.data(), sizeof e);
    for (std::uint8_t b : e.reserved)
      if (b != 0) return problem(r.sequence, "reserved bytes of its Event are not zero");
  }
  if (type == RecordType::order_pending) {
    domains::OrderRow o;
    std::memcpy(&o, r.payload.data(), sizeof o);
    if (o.id != r.header.order_id)
      problem(r.sequence, fmt::format("order_pending for order {} carries the row of order {}",
                                      r.header.order_id, o.id));
  }
}

// Every record of a batch; past a corrupt one whose header still frames it, on to the next.
void Verifier::records(const journal::BatchView& b) {
  journal::BatchView rest = b;
  for (std::uint32_t tries = 0; tries <= b.record_count && rest.record_count > 0; ++tries) {
    std::size_t offset = 0;
    std::uint32_t done = 0;
    bool stopped = false;
    const journal::Status s = journal::for_each_record(
        rest, 0,
        [&](const journal::RecordView& r) {
          record(r);
          offset += sizeof(journal::RecordHeader) + r.payload.size();
          ++done;
          return true;
        },
        &stopped);
    if (s.ok()) return;
    const std::uint64_t bad = rest.first_sequence + done;
    problem(bad, s.message());
    journal::RecordHeader h{};
    const journal::Bytes at = rest.records.subspan(std::min(offset, rest.records.size()));
    if (done == rest.record_count || at.size() < sizeof h)
      return;  // trailing bytes, or nothing to frame
    std::memcpy(&h, at.data(), sizeof h);
    const std::size_t size = sizeof h + h.payload_size;
    if (h.magic != journal::journal_magic || size > at.size()) {
      if (bad + 1 < rest.next_sequence())
        problem(bad, fmt::format("records {}..{} of its batch cannot be framed past it", bad + 1,
                                 rest.next_sequence() - 1));
      return;
    }
    rest.first_sequence = bad + 1;
    rest.record_count -= done + 1;
    rest.records = at.subspan(size);
  }
}

void Verifier::sections(const journal::BatchView& b) {
  for (const journal::Section section : {journal::Section::state, journal::Section::outbox}) {
    std::uint64_t wrong_size = 0;
    const journal::Status s = journal::for_each_entry(b, section, [&](const journal::Entry& e) {
      if (section == journal::Section::outbox && e.value_size != sizeof(ipc::Message)) ++wrong_size;
    });
    if (!s.ok()) problem(b.first_sequence, s.message());
    if (wrong_size != 0)
      problem(b.first_sequence,
              fmt::format("{} outbox entries of its batch are not {}-byte messages", wrong_size,
                          sizeof(ipc::Message)));
  }
}

void Verifier::batch(journal::Bytes key, journal::Bytes value) {
  ++v_.batches;
  journal::BatchView b;
  journal::Status s = journal::decode_batch(key, value, b);
  const std::uint64_t first = key.size() == 8 ? journal::u64_from_key(key) : 0;
  if (!s.ok()) {
    problem(first, s.message());
    journal::BatchHeader h{};
    if (value.size() >= sizeof h) std::memcpy(&h, value.data(), sizeof h);
    const std::uint64_t sections = std::uint64_t{h.records_bytes} + h.state_bytes + h.outbox_bytes;
    if (h.magic != journal::batch_magic || sizeof h + sections != value.size()) {
      v_.expected = 0;  // where the next batch starts cannot be told from this one
      return;
    }
    // Framed, but a section's checksum failed: its records still have their own.
    b = journal::BatchView{first, h.record_count, value.subspan(sizeof h, h.records_bytes), {}, {}};
  }
  if (v_.expected != 0 && b.first_sequence != v_.expected)
    problem(b.first_sequence, b.first_sequence > v_.expected
                                  ? fmt::format("sequence gap: records {}..{} are missing",
                                                v_.expected, b.first_sequence - 1)
                                  : fmt::format("sequence goes back (expected {})", v_.expected));
  if (v_.expected == 0 && v_.batches == 1 && b.first_sequence != 1)
    problem(b.first_sequence,
            fmt::format("sequence gap: records 1..{} are missing", b.first_sequence - 1));
  v_.expected = b.next_sequence();
  records(b);
  if (s.ok()) sections(b);
}

// Every stored batch, in chunks of fresh snapshots (raw LMDB: verify goes on past a batch the
// journal API would stop at).
void Verifier::journal_env(const journal::Env& env) {
  journal::ReadTxn txn;
  std::uint64_t next_key = 0;  // 0: from the first batch
  for (bool more = true; more;) {
    if (journal::Status s = env.begin_read(txn); !s.ok()) return problem(0, s.message());
    if (v_.last == 0) v_.last = txn.last_sequence();
    MDB_dbi dbi = 0;
    MDB_cursor* cursor = nullptr;
    int rc = mdb_dbi_open(txn.raw(), "journal", 0, &dbi);
    if (rc == MDB_SUCCESS) rc = mdb_cursor_open(txn.raw(), dbi, &cursor);
    if (rc != MDB_SUCCESS)
      return problem(0, std::string("open the journal table: ") + mdb_strerror(rc));
    auto from = journal::key_u64(next_key);
    MDB_val k{from.size(), from.data()}, v{};
    rc = mdb_cursor_get(cursor, &k, &v, next_key == 0 ? MDB_FIRST : MDB_SET_RANGE);
    std::size_t n = 0;
    for (; rc == MDB_SUCCESS && n < verify_chunk_batches; ++n) {
      const journal::Bytes key(static_cast<const std::byte*>(k.mv_data), k.mv_size);
      batch(key, journal::Bytes(static_cast<const std::byte*>(v.mv_data), v.mv_size));
      next_key = (key.size() == 8 ? journal::u64_from_key(key) : next_key) + 1;
      rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cursor);
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
      problem(0, std::string("walk the journal: ") + mdb_strerror(rc));
    more = rc == MDB_SUCCESS;
  }
  // Where the walk says the journal ends (the API's last sequence is 0 if the last batch is bad).
  if (v_.expected != 0) v_.last = v_.expected - 1;
}

// The view holds its journal up to its position: never past the end, from this journal, and
// at the end of a batch.
void Verifier::view_env(const journal::Env& journal, const journal::Env& view) {
  domains::ViewPosition p{};
  if (journal::Status s = read_view_position(view, p); !s.ok()) {
    v_.view = "unreadable";
    return problem(0, fmt::format("{} view: its position cannot be read: {}", ipc::domain_name(d_),
                                  s.message()));
  }
  const std::int64_t created = journal.stats().created_ns;
  const std::uint64_t end = v_.last;
  const std::string name(ipc::domain_name(d_));
  v_.view = p.last_sequence == end ? "end" : fmt::format("{}", p.last_sequence);
  if (p.last_sequence != 0 && p.journal_created_ns != 0 && p.journal_created_ns != created)
    return problem(p.last_sequence,
                   fmt::format("the {} view was built from another journal", name));
  if (p.last_sequence > end)
    return problem(p.last_sequence,
                   fmt::format("the {} view holds the journal up to sequence {}, past its end {}",
                               name, p.last_sequence, end));
  if (p.last_sequence == end) return;
  v_.view = fmt::format("{} ({} behind)", p.last_sequence, end - p.last_sequence);
  journal::ReadTxn txn;
  std::uint64_t starts = 0;
  if (journal.begin_read(txn).ok())
    (void)txn.batches(p.last_sequence + 1, 1, [&](const journal::BatchView& b) {
      starts = b.first_sequence;
      return false;
    });
  if (starts != p.last_sequence + 1)
    problem(p.last_sequence, fmt::format("the {} view position {} ends inside a journal batch",
                                         name, p.last_sequence));
}

// One domain: probe both environments, then walk what can be walked.
bool verify_domain(const InspectContext& ctx, Domain dom, std::ostream& out, std::ostream& err,
                   VerifyResult& v) {
  Verifier ver(dom, out, ctx.style, v);
  std::array<std::unique_ptr<journal::Env>, 2> envs;  // journal, view
  for (const bool view : {false, true}) {
    const std::filesystem::path dir = env_dir(ctx, dom, view);
    const std::string_view what = view ? "view" : "journal";
    if (const EnvProbe p = probe_environment(dir); !p.sound) {
      ver.problem(0, fmt::format("the {} {} ({}) is corrupt: {}", ipc::domain_name(dom), what,
                                 dir.string(), p.problem));
      continue;
    }
    std::unique_ptr<journal::Env>& env = envs[view ? 1 : 0];
    const journal::Status s = view ? domains::open_view_read_only(ctx.data_dir, dom, env)
                                   : domains::open_journal_read_only(ctx.data_dir, dom, env);
    if (s.ok()) continue;
    if (const std::string damage = environment_damage(s); !damage.empty()) {
      ver.problem(0, fmt::format("the {} {} ({}) is corrupt: {}", ipc::domain_name(dom), what,
                                 dir.string(), damage));
      continue;
    }
    return report_open_problem(ctx, dom, view, s, err, "journal verify");
  }
  if (envs[0]) ver.journal_env(*envs[0]);
  if (envs[0] && envs[1]) ver.view_env(*envs[0], *envs[1]);
  return true;
}

}  // namespace

int journal_verify(const InspectContext& ctx, const std::string& domain, std::ostream& out,
                   std::ostream& err) {
  std::vector<Domain> ds;
  if (!resolve_domains(domain, true, ds, err, "journal verify")) return 2;
  if (std::string p = data_dir_problem(ctx.data_dir); !p.empty()) {
    err << "flashsaga journal verify: " << p << '\n';
    return 2;
  }
  std::uint64_t problems = 0;
  Table table(
      {"DOMAIN", "RECORDS", "BATCHES", "SEQUENCES", "VIEW AT", "PROBLEMS", "CLOCK STEPS BACK"},
      {false, true, true, false, true, true, true});
  for (Domain dom : ds) {
    VerifyResult v;
    if (!verify_domain(ctx, dom, out, err, v)) return 2;
    if (v.problems > verify_problems_max)
      out << fmt::format("{}: ... and {} more problems\n", ipc::domain_name(dom),
                         v.problems - verify_problems_max);
    problems += v.problems;
    table.add({std::string(ipc::domain_name(dom)), fmt::format("{}", v.records),
               fmt::format("{}", v.batches),
               v.last == 0 ? std::string("-") : fmt::format("{}..{}", v.first, v.last), v.view,
               v.problems == 0
                   ? fmt::format("{}ok{}", ctx.style.green(), ctx.style.reset())
                   : fmt::format("{}{}{}", ctx.style.red(), v.problems, ctx.style.reset()),
               fmt::format("{}", v.clock_steps_back)});
  }
  table.print(out, ctx.style);
  out << (problems == 0 ? "every record is sound\n"
                        : fmt::format("{} problem{} found\n", problems, problems == 1 ? "" : "s"));
  return problems == 0 ? 0 : 1;
}

}  // namespace flashsaga::tools
