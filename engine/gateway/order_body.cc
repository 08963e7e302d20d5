#include "engine/gateway/order_body.h"

#include <boost/json/basic_parser_impl.hpp>

#include <cstring>

#include "engine/gateway/json_io.h"

namespace flashsaga::gateway {
namespace {

using boost::system::error_code;
using std::string_view;

constexpr std::size_t key_bytes_max = 16;  // longer than any member name we read

// Members, and where the parser is in the document:
//   depth 0: before the top object; 1: in it; 2: in `items`; 3: in one item.
enum class Member : std::uint8_t { none, user_id, items, coupon_id, points, product_id, quantity };

class OrderHandler {
 public:
  static constexpr std::size_t max_array_size = line_items_max;
  static constexpr std::size_t max_object_size = 8;
  static constexpr std::size_t max_string_size = 0;
  static constexpr std::size_t max_key_size = key_bytes_max;

  explicit OrderHandler(engine::PlaceRequest& out) : out_(out) {}

  bool complete() const noexcept { return seen_user_ && seen_items_ && out_.item_count > 0; }

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code& ec) {
    if (depth_ == 0 || (depth_ == 2 && out_.item_count < line_items_max)) {
      ++depth_;
      item_product_ = item_quantity_ = false;
      return true;
    }
    return fail(ec);
  }
  bool on_object_end(std::size_t, error_code& ec) {
    if (depth_ == 3) {
      if (!item_product_ || !item_quantity_) return fail(ec);
      ++out_.item_count;
    } else if (depth_ != 1) {
      return fail(ec);
    }
    --depth_;
    return true;
  }
  bool on_array_begin(error_code& ec) {
    if (depth_ != 1 || member_ != Member::items) return fail(ec);
    depth_ = 2;
    return true;
  }
  bool on_array_end(std::size_t, error_code& ec) {
    if (depth_ != 2 || out_.item_count == 0) return fail(ec);
    depth_ = 1;
    return true;
  }
  bool on_key_part(string_view s, std::size_t, error_code& ec) { return append_key(s, ec); }
  bool on_key(string_view s, std::size_t, error_code& ec) {
    if (!append_key(s, ec)) return false;
    const string_view key(key_, key_size_);
    key_size_ = 0;
    return member(key, ec);
  }
  bool on_string_part(string_view, std::size_t, error_code& ec) { return fail(ec); }
  bool on_string(string_view, std::size_t, error_code& ec) { return fail(ec); }
  bool on_number_part(string_view, error_code&) { return true; }
  bool on_int64(std::int64_t i, string_view, error_code& ec) { return integer(i, ec); }
  bool on_uint64(std::uint64_t u, string_view, error_code& ec) {
    if (u > static_cast<std::uint64_t>(INT64_MAX)) return fail(ec);
    return integer(static_cast<std::int64_t>(u), ec);
  }
  bool on_double(double, string_view, error_code& ec) { return fail(ec); }
  bool on_bool(bool, error_code& ec) { return fail(ec); }
  bool on_null(error_code& ec) { return fail(ec); }
  bool on_comment_part(string_view, error_code& ec) { return fail(ec); }
  bool on_comment(string_view, error_code& ec) { return fail(ec); }

 private:
  static bool fail(error_code& ec) {
    ec = boost::json::error::exception;  // any error: the caller only needs "not this path"
    return false;
  }
  bool append_key(string_view s, error_code& ec) {
    if (s.size() > key_bytes_max - key_size_) return fail(ec);
    std::memcpy(key_ + key_size_, s.data(), s.size());
    key_size_ += s.size();
    return true;
  }
  bool member(string_view key, error_code& ec) {
    const auto once = [&](bool& seen, Member m) {
      if (seen) return fail(ec);
      seen = true;
      member_ = m;
      return true;
    };
    if (depth_ == 1) {
      if (key == "user_id") return once(seen_user_, Member::user_id);
      if (key == "items") return once(seen_items_, Member::items);
      if (key == "coupon_id") return once(seen_coupon_, Member::coupon_id);
      if (key == "points") return once(seen_points_, Member::points);
    } else if (depth_ == 3) {
      if (key == "product_id") return once(item_product_, Member::product_id);
      if (key == "quantity") return once(item_quantity_, Member::quantity);
    }
    return fail(ec);
  }
  bool integer(std::int64_t v, error_code& ec) {
    const auto id_ok = [&] { return v >= 1 && static_cast<std::uint64_t>(v) <= json_id_max; };
    ipc::LineItem& item = out_.items[out_.item_count < line_items_max ? out_.item_count : 0];
    switch (depth_ == 1 || depth_ == 3 ? member_ : Member::none) {
      case Member::user_id:
        if (!id_ok()) return fail(ec);
        out_.user_id = static_cast<std::uint64_t>(v);
        return true;
      case Member::coupon_id:
        if (!id_ok()) return fail(ec);
        out_.coupon_id = static_cast<std::uint64_t>(v);
        return true;
      case Member::points:
        if (v < 0 || v > money_max) return fail(ec);
        out_.points = v;
        return true;
      case Member::product_id:
        if (!id_ok() || v > static_cast<std::int64_t>(UINT32_MAX)) return fail(ec);
        item.product_id = static_cast<std::uint32_t>(v);
        return true;
      case Member::quantity:
        if (v < 1 || v > static_cast<std::int64_t>(quantity_max)) return fail(ec);
        item.quantity = static_cast<std::uint32_t>(v);
        return true;
      default:
        return fail(ec);
    }
  }

  engine::PlaceRequest& out_;
  int depth_ = 0;
  Member member_ = Member::none;
  bool seen_user_ = false, seen_items_ = false, seen_coupon_ = false, seen_points_ = false;
  bool item_product_ = false, item_quantity_ = false;
  char key_[key_bytes_max] = {};
  std::size_t key_size_ = 0;
};

}  // namespace

bool read_order_body(std::string_view body, engine::PlaceRequest& out) noexcept {
  if (body.empty()) return false;
  engine::PlaceRequest read;
  boost::json::parse_options options;
  options.max_depth = 32;
  boost::json::basic_parser<OrderHandler> parser(options, read);
  error_code ec;
  const std::size_t used = parser.write_some(false, body.data(), body.size(), ec);
  if (ec || used != body.size() || !parser.done() || !parser.handler().complete()) return false;
  out.user_id = read.user_id;
  out.coupon_id = read.coupon_id;
  out.points = read.points;
  out.item_count = read.item_count;
  out.items = read.items;
  return true;
}

}  // namespace flashsaga::gateway
