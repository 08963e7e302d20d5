#include "tools/inspector/decode.h"

#include <charconv>
#include <cstring>

#include "tools/check/check.h"

namespace flashsaga::tools {

using domains::Event;
using domains::RecordType;
using Kind = FieldValue::Kind;

namespace {

constexpr std::uint16_t record_type_scan_max = 128;  // record types are small stable numbers

std::string_view reason_name(std::uint8_t r) {
  const std::string_view n = ipc::order_reason_name(static_cast<ipc::OrderReason>(r));
  return n.empty() ? std::string_view("none") : n;
}
std::string_view state_name(std::uint8_t s) {
  return domains::step_state_name(static_cast<domains::StepState>(s));
}
std::string_view step_name(std::uint64_t step) {
  switch (step) {
    case 1:
      return "stock";
    case 2:
      return "coupon";
    case 3:
      return "points";
    case 4:
      return "payment";
    default:
      return "unknown";
  }
}
std::string_view method_name(std::int64_t m) {
  return domains::payment_method_name(
      static_cast<domains::PaymentMethod>(static_cast<std::uint8_t>(m)));
}
std::string_view kind_name(std::uint8_t k) {
  switch (static_cast<ipc::CouponKind>(k)) {
    case ipc::CouponKind::fixed:
      return "fixed";
    case ipc::CouponKind::percent:
      return "percent";
  }
  return "unknown";
}

class Fields {
 public:
  explicit Fields(DecodedRecord& d) : d_(d) { d_.field_count = 0; }
  Fields& u(std::string_view name, std::uint64_t v) { return put({name, Kind::u64, v, 0, {}}); }
  Fields& i(std::string_view name, std::int64_t v) { return put({name, Kind::i64, 0, v, {}}); }
  Fields& t(std::string_view name, std::string_view v) { return put({name, Kind::name, 0, 0, v}); }
  Fields& text(std::string_view name, std::string_view v) {
    return put({name, Kind::text, 0, 0, v});
  }
  Fields& time(std::string_view name, std::int64_t v) { return put({name, Kind::time, 0, v, {}}); }

 private:
  Fields& put(FieldValue f) {
    if (d_.field_count < d_.fields.size()) d_.fields[d_.field_count++] = f;
    return *this;
  }
  DecodedRecord& d_;
};

template <typename Row>
const Row& row_of(DecodedRecord& d, const journal::RecordView& r) {
  static_assert(sizeof(Row) <= decoded_row_bytes_max);
  std::memcpy(d.row.data(), r.payload.data(), sizeof(Row));
  return *reinterpret_cast<const Row*>(d.row.data());
}

void decode_lease(const Event& e, Fields& f) {
  f.u("product", e.subject)
      .u("cell", e.other)
      .i("quantity", e.amount)
      .i("total", e.balance)
      .i("epoch", e.extra);
}

// The point, product and coupon domains' events; false for any other type.
bool decode_leaf_event(RecordType type, const Event& e, Fields& f) {
  switch (type) {
    case RecordType::points_accrued:
      f.u("user", e.subject).i("amount", e.amount).i("balance", e.balance);
      return true;
    case RecordType::points_deducted:
      f.u("user", e.subject)
          .i("amount", e.amount)
          .i("balance", e.balance)
          .t("state", state_name(e.state));
      return true;
    case RecordType::points_rejected:
      f.u("user", e.subject)
          .i("requested", e.extra)
          .i("balance", e.balance)
          .t("reason", reason_name(e.reason));
      return true;
    case RecordType::points_refunded:
      f.u("user", e.subject)
          .i("amount", e.amount)
          .i("balance", e.balance)
          .t("reason", reason_name(e.reason));
      return true;
    case RecordType::points_rewarded:
      f.u("user", e.subject)
          .i("amount", e.amount)
          .i("balance", e.balance)
          .i("paid", e.extra)
          .t("step", state_name(e.state));
      return true;
    case RecordType::points_reward_revoked:
      f.u("user", e.subject)
          .i("amount", e.amount)
          .i("balance", e.balance)
          .i("reward", e.extra)
          .t("reason", reason_name(e.reason));
      return true;
    case RecordType::points_cancelled_before_apply:
      f.u("user", e.subject).i("balance", e.balance).t("reason", reason_name(e.reason));
      return true;
    case RecordType::product_restocked:
      f.u("product", e.subject).i("quantity", e.amount).i("total", e.balance);
      return true;
    case RecordType::stock_reserved:  // a bulk count: every order up to through_order
      f.u("product", e.subject)
          .i("quantity", e.amount)
          .i("available", e.balance)
          .u("through_order", e.other);
      return true;
    case RecordType::stock_sold:
    case RecordType::stock_released:
      f.u("product", e.subject)
          .i("quantity", e.amount)
          .i("available", e.balance)
          .i("unit_price", e.extra);
      return true;
    case RecordType::stock_reconciled:
      f.u("product", e.subject).i("available", e.amount).i("total", e.balance).i("before", e.extra);
      return true;
    case RecordType::stock_cancelled_before_apply:
      f.t("state", state_name(e.state));
      return true;
    case RecordType::lease_out:
    case RecordType::lease_in:
      decode_lease(e, f);
      return true;
    case RecordType::coupon_applied:
    case RecordType::coupon_used:
      f.u("coupon", e.subject).u("template", e.other).i("discount", e.extra);
      return true;
    case RecordType::coupon_rejected:
      f.u("coupon", e.subject).u("template", e.other).t("reason", reason_name(e.reason));
      return true;
    case RecordType::coupon_released:
      f.u("coupon", e.subject)
          .u("template", e.other)
          .i("discount", e.extra)
          .t("reason", reason_name(e.reason));
      return true;
    case RecordType::coupon_cancelled_before_apply:
      f.u("coupon", e.subject).t("reason", reason_name(e.reason));
      return true;
    default:
      return false;
  }
}

// The order and payment domains' events and the journal's own records.
void decode_saga_event(RecordType type, const Event& e, Fields& f) {
  switch (type) {
    case RecordType::order_rejected:
      f.u("user", e.subject)
          .u("correlation", e.other)
          .i("units", e.amount)
          .t("reason", reason_name(e.reason));
      return;
    case RecordType::order_step:
      f.u("user", e.subject)
          .t("step", step_name(e.other))
          .t("state", state_name(e.state))
          .i("amount", e.amount)
          .t("reason", reason_name(e.reason));
      return;
    case RecordType::order_payment_requested:
      f.u("user", e.subject).i("amount", e.amount).i("discount", e.extra).i("points", e.balance);
      return;
    case RecordType::order_completed:
      f.u("user", e.subject).i("paid", e.amount).i("reward", e.extra);
      return;
    case RecordType::order_cancelled:
      f.u("user", e.subject)
          .i("paid", e.amount)
          .i("was_completed", e.extra)
          .t("reason", reason_name(e.reason));
      return;
    case RecordType::wallet_deposited:
      f.u("user", e.subject).i("amount", e.amount).i("balance", e.balance);
      return;
    case RecordType::payment_approved:
      f.u("user", e.subject)
          .i("amount", e.amount)
          .i("balance", e.balance)
          .t("method", method_name(e.extra));
      return;
    case RecordType::payment_declined:
      f.u("user", e.subject).i("asked", e.extra).t("reason", reason_name(e.reason));
      return;
    case RecordType::payment_refunded:
      f.u("user", e.subject)
          .i("amount", e.amount)
          .i("balance", e.balance)
          .t("method", method_name(e.extra))
          .t("reason", reason_name(e.reason));
      return;
    case RecordType::payment_cancelled_before_apply:
      f.u("user", e.subject).t("reason", reason_name(e.reason));
      return;
    case RecordType::payment_pg_requested:
      f.u("user", e.subject).i("amount", e.extra);
      return;
    case RecordType::payment_voided:
      f.u("user", e.subject).t("reason", reason_name(e.reason));
      return;
    case RecordType::message_invalid:
      f.u("edge", e.subject)
          .t("message", ipc::message_type_name(
                            static_cast<ipc::MessageType>(static_cast<std::uint16_t>(e.other))))
          .t("error", ipc::message_error_name(static_cast<ipc::MessageError>(e.reason)))
          .i("ring_depth", e.amount)
          .i("batch_offset", e.extra);
      return;
    default:
      return;  // unknown: its header alone is shown
  }
}

void decode_event(RecordType type, const Event& e, Fields& f) {
  if (!decode_leaf_event(type, e, f)) decode_saga_event(type, e, f);
}

}  // namespace

void decode_record(ipc::Domain domain, const journal::RecordView& r, DecodedRecord& d) {
  d.domain = domain;
  d.sequence = r.sequence;
  d.header = r.header;
  d.known = record_type_known(r.header.type);
  const auto type = static_cast<RecordType>(r.header.type);
  d.type_name = d.known ? domains::record_type_name(type) : std::string_view("unknown");
  d.decodable = d.known && payload_size_ok(type, r.payload.size());
  d.is_event = false;
  Fields f(d);
  if (!d.decodable) {
    f.u("type_number", r.header.type).u("payload_bytes", r.payload.size());
    return;
  }
  if (record_carries_event(type)) {
    d.is_event = true;
    std::memcpy(&d.event, r.payload.data(), sizeof(Event));
    decode_event(type, d.event, f);
    return;
  }
  switch (type) {
    case RecordType::user_created:
    case RecordType::user_updated: {
      const auto& u = row_of<domains::UserRow>(d, r);
      f.u("user", u.id)
          .text("name", u.name.view())
          .text("email", u.email.view())
          .u("blocked", u.blocked);
      break;
    }
    case RecordType::product_created:
    case RecordType::product_updated: {
      const auto& p = row_of<domains::ProductRow>(d, r);
      f.u("product", p.id)
          .text("name", p.name.view())
          .i("price", p.price)
          .i("total", p.total)
          .i("reserved", p.reserved)
          .i("sold", p.sold)
          .u("max_per_user", p.max_per_user)
          .time("sale_starts", p.sale_starts_ns)
          .time("sale_ends", p.sale_ends_ns);
      break;
    }
    case RecordType::coupon_template_created: {
      const auto& t = row_of<domains::TemplateRow>(d, r);
      f.u("template", t.id)
          .text("name", t.name.view())
          .t("kind", kind_name(t.kind))
          .i("value", t.value)
          .i("max_discount", t.max_discount)
          .i("min_order", t.min_order_amount)
          .i("quantity", t.quantity)
          .time("expires", t.expires_at_ns);
      break;
    }
    case RecordType::coupon_issued: {
      const auto& c = row_of<domains::CouponRow>(d, r);
      f.u("coupon", c.id)
          .u("template", c.template_id)
          .u("user", c.user_id)
          .t("state", domains::coupon_state_name(static_cast<domains::CouponState>(c.state)));
      break;
    }
    case RecordType::order_pending: {
      const auto& o = row_of<domains::OrderRow>(d, r);
      char* p = d.items.data();
      char* const end = d.items.data() + d.items.size();
      const auto add = [&](std::string_view s) {
        const std::size_t n = std::min(s.size(), static_cast<std::size_t>(end - p));
        std::memcpy(p, s.data(), n);
        p += n;
      };
      for (std::uint32_t k = 0; k < o.item_count && k < line_items_max; ++k) {
        add(k == 0 ? "p" : ",p");
        add(fmt::format_int(o.items[k].product_id).str());
        add("x");
        add(fmt::format_int(o.items[k].quantity).str());
        add("@");
        add(fmt::format_int(static_cast<long long>(o.items[k].unit_price)).str());
      }
      f.u("user", o.user_id)
          .t("items",
             std::string_view(d.items.data(), static_cast<std::size_t>(p - d.items.data())))
          .i("subtotal", o.subtotal)
          .u("coupon", o.coupon_id)
          .i("points_to_use", o.points_to_use)
          .u("idempotency_key", o.idempotency_key)
          .time("deadline", o.deadline_ns);
      break;
    }
    default:
      break;
  }
}

bool parse_record_type(std::string_view text, std::uint16_t& type) {
  unsigned number = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec == std::errc() && ptr == text.data() + text.size()) {
    if (number == 0 || number > 0xFFFF) return false;
    type = static_cast<std::uint16_t>(number);
    return true;
  }
  for (std::uint16_t t = 1; t < record_type_scan_max; ++t) {
    if (record_type_known(t) && domains::record_type_name(static_cast<RecordType>(t)) == text) {
      type = t;
      return true;
    }
  }
  return false;
}

std::string record_type_names() {
  std::string out;
  for (std::uint16_t t = 1; t < record_type_scan_max; ++t) {
    if (!record_type_known(t)) continue;
    if (!out.empty()) out += ", ";
    out += domains::record_type_name(static_cast<RecordType>(t));
  }
  return out;
}

namespace {

void append_value_text(fmt::memory_buffer& out, const FieldValue& v, TimeFormatter& time) {
  switch (v.kind) {
    case Kind::u64:
      put_u(out, v.u);
      break;
    case Kind::i64:
      put_i(out, v.i);
      break;
    case Kind::text:
      append_text_value(out, v.text);
      break;
    case Kind::name:
      out.append(v.text);
      break;
    case Kind::time:
      if (v.i == 0)
        out.append(std::string_view("none"));
      else
        time.append(out, v.i);
      break;
  }
}

void append_value_json(fmt::memory_buffer& out, const FieldValue& v, TimeFormatter& time) {
  switch (v.kind) {
    case Kind::u64:
      put_u(out, v.u);
      break;
    case Kind::i64:
      put_i(out, v.i);
      break;
    case Kind::text:
      append_json_string(out, v.text);
      break;
    case Kind::name:
      out.push_back('"');
      out.append(v.text);
      out.push_back('"');
      break;
    case Kind::time:
      if (v.i == 0) {
        out.append(std::string_view("null"));
      } else {
        out.push_back('"');
        time.append(out, v.i);
        out.push_back('"');
      }
      break;
  }
}

}  // namespace

void append_fields_text(fmt::memory_buffer& out, const DecodedRecord& d, TimeFormatter& time) {
  for (std::size_t k = 0; k < d.field_count; ++k) {
    if (k != 0) out.push_back(' ');
    out.append(d.fields[k].name);
    out.push_back('=');
    append_value_text(out, d.fields[k], time);
  }
}

void append_text_line(fmt::memory_buffer& out, const DecodedRecord& d, TimeFormatter& time,
                      bool with_domain, const Style& style) {
  put_u_padded(out, d.sequence, 9);
  put(out, "  ");
  time.append(out, d.header.time_ns);
  out.append(std::string_view("  "));
  if (with_domain) {
    put_padded(out, ipc::domain_name(d.domain), 7);
    put(out, "  ");
  }
  const bool compensation = d.type_name.find("released") != std::string_view::npos ||
                            d.type_name.find("refunded") != std::string_view::npos ||
                            d.type_name.find("revoked") != std::string_view::npos ||
                            d.type_name.find("voided") != std::string_view::npos;
  const std::string_view colour = !d.decodable   ? style.red()
                                  : compensation ? style.yellow()
                                                 : style.cyan();
  out.append(colour);
  const bool more = d.header.order_id != 0 || d.field_count != 0;
  put_padded(out, d.type_name, more ? 30 : 0);
  out.append(style.reset());
  if (d.header.order_id != 0) {
    put(out, "  order=");
    put_u(out, d.header.order_id);
  }
  if (d.field_count != 0) {
    out.append(std::string_view("  "));
    append_fields_text(out, d, time);
  }
}

void append_json_line(fmt::memory_buffer& out, const DecodedRecord& d, TimeFormatter& time) {
  out.append(std::string_view("{\"domain\":\""));
  out.append(ipc::domain_name(d.domain));
  put(out, "\",\"seq\":");
  put_u(out, d.sequence);
  put(out, ",\"time\":\"");
  time.append(out, d.header.time_ns);
  put(out, "\",\"time_ns\":");
  put_i(out, d.header.time_ns);
  put(out, ",\"type\":\"");
  put(out, d.type_name);
  put(out, "\",\"order_id\":");
  put_u(out, d.header.order_id);
  if (!d.decodable) out.append(std::string_view(",\"undecodable\":true"));
  for (std::size_t k = 0; k < d.field_count; ++k) {
    out.append(std::string_view(",\""));
    out.append(d.fields[k].name);
    out.append(std::string_view("\":"));
    append_value_json(out, d.fields[k], time);
  }
  out.push_back('}');
}

std::string_view csv_header() {
  return "domain,sequence,time,time_ns,type,order_id,subject,other,amount,balance,extra,state,"
         "reason,detail";
}

void append_csv_line(fmt::memory_buffer& out, const DecodedRecord& d, TimeFormatter& time) {
  out.append(ipc::domain_name(d.domain));
  out.push_back(',');
  put_u(out, d.sequence);
  out.push_back(',');
  time.append(out, d.header.time_ns);
  out.push_back(',');
  put_i(out, d.header.time_ns);
  out.push_back(',');
  put(out, d.type_name);
  out.push_back(',');
  put_u(out, d.header.order_id);
  out.push_back(',');
  if (d.is_event) {
    const Event& e = d.event;
    put_u(out, e.subject);
    out.push_back(',');
    put_u(out, e.other);
    out.push_back(',');
    for (const std::int64_t v : {e.amount, e.balance, e.extra}) {
      put_i(out, v);
      out.push_back(',');
    }
    if (e.state != 0) put(out, state_name(e.state));
    out.push_back(',');
    const std::string_view reason = ipc::order_reason_name(static_cast<ipc::OrderReason>(e.reason));
    out.append(reason);
    out.push_back(',');
    return;  // an Event's columns say it all
  }
  out.append(std::string_view(",,,,,,,"));
  fmt::memory_buffer detail;
  append_fields_text(detail, d, time);
  append_csv_field(out, std::string_view(detail.data(), detail.size()));
}

}  // namespace flashsaga::tools
