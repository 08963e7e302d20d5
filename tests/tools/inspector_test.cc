// The journal inspector and tracer on the hand-built sale of tests/tools/fixture.h: golden
// output, JSON that parses back to the records it shows, verify catching a corrupt record,
// tail -f following a writer process, and one-line errors for directories it cannot read.
#include "tools/inspector/inspector.h"

#include <gtest/gtest.h>
#include <lmdb.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <sstream>
#include <thread>

#include "domains/journal_open.h"
#include "domains/rows.h"
#include "engine/base/clock.h"
#include "tests/tools/fixture.h"
#include "tools/check/check.h"

namespace flashsaga::tools {
namespace {

using domains::Event;
using domains::OrderStep;
using domains::RecordType;
using domains::StepState;
using ipc::Domain;
using ipc::OrderReason;
using testing::Fixture;
using testing::golden;
using testing::TempDir;

struct Output {
  int code = 0;
  std::string out;
  std::string err;
};

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) v.push_back(line);
  return v;
}

class InspectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Fixture f(dir.path());
    testing::build_sale(f);
    end_ns = f.now_ns;
  }
  InspectContext ctx() const { return InspectContext{dir.path(), Style{false}}; }
  template <typename Fn>
  Output run(Fn fn) {
    std::ostringstream out, err;
    Output r;
    r.code = fn(out, err);
    r.out = out.str();
    r.err = err.str();
    return r;
  }
  Output show(ShowOptions o) {
    return run(
        [&](std::ostream& out, std::ostream& err) { return journal_show(ctx(), o, out, err); });
  }
  Output trace(std::uint64_t id) {
    TraceOptions o;
    o.order_id = id;
    o.now_ns = end_ns + 60'000'000'000;
    return run(
        [&](std::ostream& out, std::ostream& err) { return trace_order(ctx(), o, out, err); });
  }

  TempDir dir;
  std::int64_t end_ns = 0;
};

// --- Golden output -------------------------------------------------------------------------------

TEST_F(InspectorTest, ShowDecodesEveryOrderRecordAsTheGoldenFileSays) {
  const Output r = show({.domain = "order"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, golden("show_order.txt", r.out));
}

TEST_F(InspectorTest, ShowOfEveryJournalMatchesItsGoldenFile) {
  for (const char* d : {"user", "point", "product", "coupon", "payment"}) {
    SCOPED_TRACE(d);
    const Output r = show({.domain = d});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, golden(std::string("show_") + d + ".txt", r.out));
  }
}

TEST_F(InspectorTest, ShowFiltersByTypeOrderSequenceAndTime) {
  Output r = show({.domain = "payment", .types = {"payment_refunded", "payment_declined"}});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(lines_of(r.out).size(), 2u) << r.out;
  EXPECT_NE(lines_of(r.out)[0].find("payment_declined"), std::string::npos);
  EXPECT_NE(lines_of(r.out)[1].find("payment_refunded"), std::string::npos);

  r = show({.domain = "product", .order_id = 3});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(lines_of(r.out).size(), 2u)
      << r.out;  // two items released (reservations are counted in bulk)
  for (const std::string& line : lines_of(r.out))
    EXPECT_NE(line.find("order=3 "), std::string::npos) << line;

  r = show({.domain = "order", .from = 3, .to = 5});
  EXPECT_EQ(lines_of(r.out).size(), 3u) << r.out;

  r = show({.domain = "order", .since_ns = end_ns - 200'000'000});  // the last 200 ms: order 6
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(lines_of(r.out).size(), 1u) << r.out;
  EXPECT_NE(r.out.find("order_pending"), std::string::npos);

  r = show({.domain = "order", .order_id = 4242});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(r.out.empty());

  r = show({.domain = "order", .types = {"no_such_type"}});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown record type 'no_such_type'"), std::string::npos) << r.err;
}

TEST_F(InspectorTest, ExportCsvOfAllJournalsMatchesTheGoldenFile) {
  const Output r = run([&](std::ostream& out, std::ostream& err) {
    return journal_export(ctx(), {.format = "csv", .domain = "all"}, out, err);
  });
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, golden("export_all.csv", r.out));
}

TEST_F(InspectorTest, StatsMatchTheGoldenFile) {
  const Output r = run(
      [&](std::ostream& out, std::ostream& err) { return journal_stats(ctx(), "all", out, err); });
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, golden("stats_all.txt", r.out));
}

TEST_F(InspectorTest, TraceOfEachFlowMatchesItsGoldenFile) {
  // 1 happy with coupon and points, 2 coupon rejected, 3 insufficient balance, 4 happy without
  // extras, 5 completed then refunded, 6 still pending.
  for (std::uint64_t id = 1; id <= 6; ++id) {
    SCOPED_TRACE(id);
    const Output r = trace(id);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, golden("trace_" + std::to_string(id) + ".txt", r.out));
  }
}

// --- What a trace says about each flow ----------------------------------------------------------

TEST_F(InspectorTest, TraceOfTheHappyPathShowsEveryStepForwardAndNothingToUndo) {
  const Output r = trace(1);
  EXPECT_NE(r.out.find("COMPLETED"), std::string::npos);
  EXPECT_NE(r.out.find("reserved -> sold"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("applied -> used"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("deducted -> rewarded"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no empty or missing compensation"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("!!"), std::string::npos) << r.out;
}

TEST_F(InspectorTest, TraceOfAnInvalidCouponShowsTheCancelAndTheClosedPaymentGate) {
  const Output r = trace(2);
  EXPECT_NE(r.out.find("CANCELLED (coupon_used)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reserved -> released"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("refused: nothing to undo"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cancel came first: gate closed"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("!!"), std::string::npos) << r.out;
}

TEST_F(InspectorTest, TraceOfAnInsufficientBalanceCompensatesEverythingButThePayment) {
  const Output r = trace(3);
  EXPECT_NE(r.out.find("CANCELLED (insufficient_balance)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("applied -> released"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("deducted -> refunded"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("payment  declined"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("payment_refunded"), std::string::npos) << r.out;  // no empty refund
}

TEST_F(InspectorTest, TraceOfASoldOutOrderSaysItWasNeverStored) {
  const Output r = trace(4242);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no journal knows order 4242"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sold out"), std::string::npos) << r.err;
}

TEST(InspectorTrace, MarksAnEmptyAndAMissingCompensation) {
  TempDir dir;
  std::int64_t end = 0;
  {
    Fixture f(dir.path());
    f.user(1, "Ada");
    f.product(1, 500, 10);
    f.deposit(1, 100);
    f.accrue(1, 100);
    f.place(1, 1, {{1, 1, 500}}, 0, 100);
    f.stock_reserve(1);
    f.points_deduct(1);
    f.order_step(1, OrderStep::points, StepState::deducted, 100);
    f.request_payment(1);
    f.decline(1, OrderReason::insufficient_balance);
    f.order_step(1, OrderStep::payment, StepState::declined, 0, OrderReason::insufficient_balance);
    f.cancel(1, OrderReason::insufficient_balance);
    f.stock_release(1);
    f.refund(1, OrderReason::insufficient_balance);  // the bug of SEED.md section 5
    // ... and the points are never given back.
    end = f.now_ns;
  }
  std::ostringstream out, err;
  TraceOptions o;
  o.order_id = 1;
  o.now_ns = end + 60'000'000'000;
  EXPECT_EQ(trace_order(InspectContext{dir.path(), {}}, o, out, err), 0) << err.str();
  const std::string s = out.str();
  EXPECT_NE(s.find("!! EMPTY COMPENSATION: refund of 400 without an approved charge"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("!! MISSING COMPENSATION: order CANCELLED but points is still deducted"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("2 problems"), std::string::npos) << s;

  o.now_ns = end + 1'000'000'000;  // a second after the cancel: perhaps still on its way
  std::ostringstream soon;
  EXPECT_EQ(trace_order(InspectContext{dir.path(), {}}, o, soon, err), 0);
  EXPECT_NE(soon.str().find("may still be in flight"), std::string::npos) << soon.str();
}

// --- JSON parses back ----------------------------------------------------------------------------

TEST_F(InspectorTest, ShowJsonParsesBackToTheRecordsItShows) {
  for (Domain d : journal_domains) {
    SCOPED_TRACE(std::string(ipc::domain_name(d)));
    const Output r = show({.domain = std::string(ipc::domain_name(d)), .json = true});
    ASSERT_EQ(r.code, 0) << r.err;
    const auto lines = lines_of(r.out);
    // The same records, read with the journal API.
    std::unique_ptr<journal::Env> env;
    ASSERT_TRUE(domains::open_journal_read_only(dir.path(), d, env).ok());
    journal::ReadTxn txn;
    ASSERT_TRUE(env->begin_read(txn).ok());
    std::size_t k = 0;
    const journal::Status s = txn.records(1, SIZE_MAX, [&](const journal::RecordView& rec) {
      EXPECT_LT(k, lines.size());
      if (k >= lines.size()) return false;
      const boost::json::object j = boost::json::parse(lines[k++]).as_object();
      EXPECT_EQ(j.at("domain").as_string(), ipc::domain_name(d));
      EXPECT_EQ(j.at("seq").to_number<std::uint64_t>(), rec.sequence);
      EXPECT_EQ(j.at("time_ns").to_number<std::int64_t>(), rec.header.time_ns);
      EXPECT_EQ(j.at("time").as_string(), format_rfc3339(rec.header.time_ns));
      EXPECT_EQ(j.at("order_id").to_number<std::uint64_t>(), rec.header.order_id);
      const auto type = static_cast<RecordType>(rec.header.type);
      EXPECT_EQ(j.at("type").as_string(), domains::record_type_name(type));
      if (rec.payload.size() == sizeof(Event)) {
        Event e;
        std::memcpy(&e, rec.payload.data(), sizeof e);
        switch (type) {
          case RecordType::stock_reserved:
            EXPECT_EQ(j.at("product").to_number<std::uint64_t>(), e.subject);
            EXPECT_EQ(j.at("quantity").to_number<std::int64_t>(), e.amount);
            EXPECT_EQ(j.at("available").to_number<std::int64_t>(), e.balance);
            EXPECT_EQ(j.at("through_order").to_number<std::uint64_t>(), e.other);
            break;
          case RecordType::stock_sold:
          case RecordType::stock_released:
            EXPECT_EQ(j.at("product").to_number<std::uint64_t>(), e.subject);
            EXPECT_EQ(j.at("quantity").to_number<std::int64_t>(), e.amount);
            EXPECT_EQ(j.at("available").to_number<std::int64_t>(), e.balance);
            EXPECT_EQ(j.at("unit_price").to_number<std::int64_t>(), e.extra);
            break;
          case RecordType::payment_approved:
          case RecordType::payment_refunded:
          case RecordType::wallet_deposited:
          case RecordType::points_deducted:
          case RecordType::points_refunded:
            EXPECT_EQ(j.at("user").to_number<std::uint64_t>(), e.subject);
            EXPECT_EQ(j.at("amount").to_number<std::int64_t>(), e.amount);
            EXPECT_EQ(j.at("balance").to_number<std::int64_t>(), e.balance);
            break;
          case RecordType::order_step:
            EXPECT_EQ(j.at("state").as_string(),
                      domains::step_state_name(static_cast<StepState>(e.state)));
            EXPECT_EQ(j.at("amount").to_number<std::int64_t>(), e.amount);
            break;
          default:
            break;
        }
      } else if (type == RecordType::order_pending) {
        domains::OrderRow o;
        std::memcpy(&o, rec.payload.data(), sizeof o);
        EXPECT_EQ(j.at("user").to_number<std::uint64_t>(), o.user_id);
        EXPECT_EQ(j.at("subtotal").to_number<std::int64_t>(), o.subtotal);
        EXPECT_EQ(j.at("deadline").as_string(), format_rfc3339(o.deadline_ns));
      } else if (type == RecordType::user_created) {
        domains::UserRow u;
        std::memcpy(&u, rec.payload.data(), sizeof u);
        EXPECT_EQ(j.at("name").as_string(), u.name.view());
        EXPECT_EQ(j.at("email").as_string(), u.email.view());
      }
      return true;
    });
    EXPECT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(k, lines.size());
  }
}

TEST_F(InspectorTest, ExportJsonlIsShowJsonOfEveryJournalInTurn) {
  const Output all = run([&](std::ostream& out, std::ostream& err) {
    return journal_export(ctx(), {.format = "jsonl", .domain = "all"}, out, err);
  });
  ASSERT_EQ(all.code, 0) << all.err;
  std::string expected;
  for (Domain d : journal_domains)
    expected += show({.domain = std::string(ipc::domain_name(d)), .json = true}).out;
  EXPECT_EQ(all.out, expected);
}

TEST(InspectorJson, NamesAreEscaped) {
  TempDir dir;
  {
    Fixture f(dir.path());
    f.user(1, "Quote \"Me\"\\ Tab\t");
  }
  std::ostringstream out, err;
  ShowOptions o;
  o.domain = "user";
  o.json = true;
  ASSERT_EQ(journal_show(InspectContext{dir.path(), {}}, o, out, err), 0) << err.str();
  const boost::json::object j = boost::json::parse(out.str()).as_object();
  EXPECT_EQ(j.at("name").as_string(), "Quote \"Me\"\\ Tab\t");
}

// --- verify ----------------------------------------------------------------------------------

TEST_F(InspectorTest, VerifyPassesASoundDeployment) {
  const Output r = run(
      [&](std::ostream& out, std::ostream& err) { return journal_verify(ctx(), "all", out, err); });
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("every record is sound"), std::string::npos) << r.out;
}

TEST_F(InspectorTest, VerifyReportsACorruptRecordWithItsPositionAndChecksTheRest) {
  testing::corrupt_record(dir.path(), Domain::product, 3);
  const Output r = run([&](std::ostream& out, std::ostream& err) {
    return journal_verify(ctx(), "product", out, err);
  });
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("product seq 3: journal record at sequence 3 is corrupt: checksum"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("1 problem found"), std::string::npos) << r.out;
  // The records after the corrupt one were still read: the journal's other records all count.
  std::unique_ptr<journal::Env> env;
  ASSERT_TRUE(domains::open_journal_read_only(dir.path(), Domain::product, env).ok());
  const std::uint64_t total = env->stats().journal_records;
  EXPECT_NE(r.out.find(fmt::format("product  {:>7}", total - 1)), std::string::npos) << r.out;
  // show stops at it, with the position.
  const Output s = show({.domain = "product"});
  EXPECT_EQ(s.code, 2);
  EXPECT_EQ(lines_of(s.out).size(), 2u);
  EXPECT_NE(s.err.find("sequence 3 is corrupt"), std::string::npos) << s.err;
  // check refuses to judge a journal it cannot read.
  CheckOptions co;
  co.data_dir = dir.path();
  EXPECT_NE(run_check(co).error.find("sequence 3"), std::string::npos);
}

TEST_F(InspectorTest, VerifyFlagsARecordTypeThisBinaryDoesNotKnow) {
  {
    Fixture f(dir.path());
    f.now_ns = end_ns;
    Event e{};
    f.record(Domain::order, static_cast<RecordType>(77), 0, e);
  }
  const Output r = run([&](std::ostream& out, std::ostream& err) {
    return journal_verify(ctx(), "order", out, err);
  });
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("record type 77 is unknown to this flashsaga (a newer writer?)"),
            std::string::npos)
      << r.out;
  const Output s = show({.domain = "order", .types = {"77"}});
  EXPECT_EQ(s.code, 0) << s.err;
  EXPECT_NE(s.out.find("unknown                         type_number=77 payload_bytes=48"),
            std::string::npos)
      << s.out;
}

TEST_F(InspectorTest, VerifyReportsASectionChecksumThatFailsAndStillReadsTheRecords) {
  std::uint64_t batch = 0;
  {
    Fixture f(dir.path());
    f.now_ns = end_ns;
    ipc::OrderFinishedBody body{};
    ipc::Message m =
        ipc::make_message(ipc::MessageType::order_cancelled, Domain::order, Domain::product, body);
    m.header.sequence = 1;
    batch = f.append(Domain::order, RecordType::batch_note, 0, {});
    f.send(Domain::order, 3, m);
  }
  testing::corrupt_outbox(dir.path(), Domain::order, batch);
  const Output r = run([&](std::ostream& out, std::ostream& err) {
    return journal_verify(ctx(), "order", out, err);
  });
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(
      r.out.find(fmt::format(
          "order seq {}: journal batch at sequence {} is corrupt: section checksum", batch, batch)),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("1 problem found"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(fmt::format("order   {:>7}", batch)), std::string::npos)
      << r.out;  // every record read
}

TEST_F(InspectorTest, VerifyReportsAViewAheadOfItsJournal) {
  {
    Fixture f(dir.path());
    f.view_position(Domain::coupon, 500);
  }
  const Output r = run(
      [&](std::ostream& out, std::ostream& err) { return journal_verify(ctx(), "all", out, err); });
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("the coupon view holds the journal up to sequence 500, past its end"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("1 problem found"), std::string::npos) << r.out;
}

TEST_F(InspectorTest, VerifyReportsAnEnvironmentTornByAPowerLossWithItsPath) {
  {
    Fixture f(dir.path());
    f.now_ns = end_ns;
    for (int k = 0; k < 400; ++k) f.deposit(2, 1);  // the payment view's history spans leaves
  }
  const std::filesystem::path view = dir.path() / "payment" / "view";
  ASSERT_NE(testing::tear_leaf_page(view, "history"), 0u);
  const Output r = run(
      [&](std::ostream& out, std::ostream& err) { return journal_verify(ctx(), "all", out, err); });
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("the payment view (" + view.string() + ") is corrupt"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("1 problem found"), std::string::npos)
      << r.out;  // the journal itself is sound
}

// --- ls and tail
// ----------------------------------------------------------------------------------

TEST_F(InspectorTest, LsListsEveryJournalWithItsRecords) {
  const Output r =
      run([&](std::ostream& out, std::ostream& err) { return journal_ls(ctx(), out, err); });
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 8u) << r.out;  // title, header, six domains
  EXPECT_NE(lines[1].find("DOMAIN"), std::string::npos);
  EXPECT_NE(lines[1].find("VIEW AT"), std::string::npos);
  EXPECT_NE(lines[1].find("VIEW ON DISK"), std::string::npos);
  for (Domain d : journal_domains) {
    std::unique_ptr<journal::Env> env;
    ASSERT_TRUE(domains::open_journal_read_only(dir.path(), d, env).ok());
    const journal::EnvStats st = env->stats();
    const std::string want =
        fmt::format("{:<7}  {:>7}  {:>5}  {:>4}  2026-03-01T09:0", ipc::domain_name(d),
                    st.journal_records, 1, st.last_sequence);
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
    // one batch per record in the fixture; every view holds its whole journal
    const std::string batches = fmt::format("  {:>7}      end", st.journal_batches);
    EXPECT_NE(r.out.find(batches), std::string::npos) << batches << "\n" << r.out;
  }
  EXPECT_NE(r.out.find("nosync"), std::string::npos);
}

TEST_F(InspectorTest, TailShowsTheLastRecordsOfAllJournalsInTimeOrder) {
  TailOptions o;
  o.domain = "all";
  o.last = 4;
  const Output r =
      run([&](std::ostream& out, std::ostream& err) { return journal_tail(ctx(), o, out, err); });
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_NE(lines[3].find("product  stock_reserved"), std::string::npos)
      << r.out;  // order 6's count, the last record
  EXPECT_NE(lines[2].find("order    order_pending"), std::string::npos) << r.out;
}

TEST_F(InspectorTest, TailFollowSeesRecordsCommittedByAWriterProcess) {
  constexpr int batches = 12, per_batch = 5;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The writer: nothing crosses fork(), so it opens its journals here.
    int rc = 0;
    std::unique_ptr<journal::Env> order, payment;
    for (auto [d, env] : {std::pair{Domain::order, &order}, std::pair{Domain::payment, &payment}}) {
      journal::Options opt;
      opt.domain = std::string(ipc::domain_name(d));
      opt.dir = dir.path() / opt.domain / "journal";
      opt.durability = journal::Durability::nosync;
      opt.tables = domains::journal_tables();
      if (!journal::Env::open(opt, *env).ok()) ::_exit(3);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(150));  // let the reader start following
    for (int b = 0; b < batches && rc == 0; ++b) {
      journal::Env& env = b % 2 == 0 ? *order : *payment;
      journal::WriteTxn txn;
      if (!env.begin_write(txn).ok()) ::_exit(4);
      for (int k = 0; k < per_batch; ++k) {
        Event e{};
        e.subject = static_cast<std::uint64_t>(b);
        e.amount = k;
        const auto type = b % 2 == 0 ? RecordType::order_step : RecordType::wallet_deposited;
        if (!txn.append(static_cast<std::uint16_t>(type), 100 + static_cast<std::uint64_t>(b),
                        journal::as_bytes(e))
                 .ok())
          ::_exit(5);
      }
      if (!txn.commit().ok()) ::_exit(6);
      std::this_thread::sleep_for(std::chrono::milliseconds(15));
    }
    ::_exit(rc);
  }
  std::atomic<bool> stop{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 300 && !stop.load(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop.store(true);
  });
  TailOptions o;
  o.domain = "all";
  o.last = 0;
  o.follow = true;
  o.json = true;
  o.poll_ms = 20;
  o.max_records = batches * per_batch;
  o.stop = &stop;
  const Output r =
      run([&](std::ostream& out, std::ostream& err) { return journal_tail(ctx(), o, out, err); });
  stop.store(true);
  watchdog.join();
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(batches * per_batch)) << r.out;
  std::int64_t last_time = 0;
  std::uint64_t order_records = 0;
  for (std::size_t k = 0; k < lines.size(); ++k) {
    const boost::json::object j = boost::json::parse(lines[k]).as_object();
    const std::int64_t t = j.at("time_ns").to_number<std::int64_t>();
    EXPECT_GE(t, last_time) << "records out of time order at line " << k;
    last_time = t;
    const auto batch = static_cast<int>(k) / per_batch;
    EXPECT_EQ(j.at("order_id").to_number<std::uint64_t>(),
              100u + static_cast<std::uint64_t>(batch));
    EXPECT_EQ(j.at("domain").as_string(), batch % 2 == 0 ? "order" : "payment");
    if (batch % 2 == 0) ++order_records;
  }
  EXPECT_EQ(order_records, static_cast<std::uint64_t>(batches / 2 * per_batch));
}

// --- Directories it cannot read ----------------------------------------------------------------

TEST(InspectorErrors, AWrongPathIsOneLineAndExitTwoForEveryCommand) {
  TempDir dir;
  const InspectContext ctx{dir.path() / "no-such-deployment", {}};
  std::vector<std::function<int(std::ostream&, std::ostream&)>> commands = {
      [&](auto& o, auto& e) { return journal_ls(ctx, o, e); },
      [&](auto& o, auto& e) { return journal_show(ctx, {.domain = "order"}, o, e); },
      [&](auto& o, auto& e) { return journal_tail(ctx, {}, o, e); },
      [&](auto& o, auto& e) { return journal_verify(ctx, "all", o, e); },
      [&](auto& o, auto& e) { return journal_stats(ctx, "all", o, e); },
      [&](auto& o, auto& e) { return journal_export(ctx, {}, o, e); },
      [&](auto& o, auto& e) { return trace_order(ctx, {.order_id = 1}, o, e); },
  };
  for (auto& c : commands) {
    std::ostringstream out, err;
    EXPECT_EQ(c(out, err), 2);
    const auto lines = lines_of(err.str());
    ASSERT_EQ(lines.size(), 1u) << err.str();
    EXPECT_NE(lines[0].find("does not exist (check --data)"), std::string::npos) << lines[0];
  }
}

TEST(InspectorErrors, ADirectoryWithoutJournalsIsOneLine) {
  TempDir dir;
  std::ostringstream out, err;
  EXPECT_EQ(journal_ls(InspectContext{dir.path(), {}}, out, err), 2);
  EXPECT_NE(err.str().find("holds no flashsaga journals"), std::string::npos) << err.str();
  std::ostringstream out2, err2;
  EXPECT_EQ(journal_show(InspectContext{dir.path(), {}}, {.domain = "coupon"}, out2, err2), 2);
  EXPECT_NE(err2.str().find("no coupon journal in"), std::string::npos) << err2.str();
  EXPECT_EQ(lines_of(err2.str()).size(), 1u);
}

TEST(InspectorErrors, AJournalOfAnotherLayoutVersionIsOneLineNamingBothVersions) {
  TempDir dir;
  {
    Fixture f(dir.path());
    testing::build_sale(f);
  }
  {
    journal::Options o;
    o.domain = "order";
    o.dir = dir.path() / "order" / "journal";
    o.tables = domains::journal_tables();
    std::unique_ptr<journal::Env> env;
    ASSERT_TRUE(journal::Env::open(o, env).ok());
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env->raw(), nullptr, 0, &txn), MDB_SUCCESS);
    MDB_dbi meta = 0;
    ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), MDB_SUCCESS);
    const std::uint16_t newer = journal::journal_layout_version + 1;
    MDB_val k{14, const_cast<char*>("layout_version")};
    MDB_val v{sizeof newer, const_cast<std::uint16_t*>(&newer)};
    ASSERT_EQ(mdb_put(txn, meta, &k, &v, 0), MDB_SUCCESS);
    ASSERT_EQ(mdb_txn_commit(txn), MDB_SUCCESS);
  }
  for (int which = 0; which < 3; ++which) {
    std::ostringstream out, err;
    const InspectContext ctx{dir.path(), {}};
    const int code = which == 0   ? journal_ls(ctx, out, err)
                     : which == 1 ? journal_show(ctx, {.domain = "order"}, out, err)
                                  : trace_order(ctx, {.order_id = 1}, out, err);
    EXPECT_EQ(code, 2);
    const auto lines = lines_of(err.str());
    ASSERT_EQ(lines.size(), 1u) << err.str();
    EXPECT_NE(lines[0].find(fmt::format("layout version mismatch: expected {}, found {}",
                                        journal::journal_layout_version,
                                        journal::journal_layout_version + 1)),
              std::string::npos)
        << lines[0];
  }
}

}  // namespace
}  // namespace flashsaga::tools
