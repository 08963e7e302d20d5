// request_parser: the gateway's HTTP/1.1 request reading, over Beast's basic_parser.
//
// PRIVATE to server.cc and http_feed.cc (the only translation units that see Beast): it
// includes Beast's HTTP parser, so nothing else may include it.
//
// RequestParser fills a reused Request from its callbacks (no allocation per field once the
// strings have grown); put_request() runs it over a buffer; refusal_for() is the answer to
// input that is not an acceptable request. The server and the feed (http_feed.h) read bytes
// through exactly these three, so what the fuzzers find is what the server does.
#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/gateway/exchange.h"

namespace flashsaga::gateway {

namespace beast_http = boost::beast::http;

inline Method method_of(beast_http::verb v) {
  switch (v) {
    case beast_http::verb::get:
      return Method::get;
    case beast_http::verb::post:
      return Method::post;
    case beast_http::verb::patch:
      return Method::patch;
    case beast_http::verb::put:
      return Method::put;
    case beast_http::verb::delete_:
      return Method::del;
    case beast_http::verb::head:
      return Method::head;
    case beast_http::verb::options:
      return Method::options;
    default:
      return Method::other;
  }
}

inline std::string error_body(std::string_view code, std::string_view message) {
  // Fixed texts only (no JSON escaping needed): the JSON library lives in the API's files.
  return std::string("{\"error\":\"") + std::string(code) + "\",\"message\":\"" +
         std::string(message) + "\"}";
}

// Beast's parser with callbacks that fill a reused Request.
class RequestParser final : public beast_http::basic_parser<true> {
 public:
  using error_code = boost::system::error_code;
  using string_view = boost::beast::string_view;
  struct Extra {
    unsigned version = 11;
    bool expect_continue = false;
    bool expect_seen = false;
  };
  RequestParser(Request& request, Extra& extra) : request_(request), extra_(extra) {
    eager(true);
    request_.body.clear();
    request_.has_idempotency_key = false;
    request_.idempotency_key.clear();
    request_.has_authorization = false;
    request_.authorization.clear();
    extra_ = Extra{};
  }

 private:
  void on_request_impl(beast_http::verb method, string_view, string_view target, int version,
                       error_code&) override {
    request_.method = method_of(method);
    request_.target.assign(target.data(), target.size());
    const std::size_t q = target.find('?');
    const string_view path = target.substr(0, q);
    request_.path.assign(path.data(), path.size());
    if (q == string_view::npos) {
      request_.query.clear();
    } else {
      request_.query.assign(target.data() + q + 1, target.size() - q - 1);
    }
    extra_.version = static_cast<unsigned>(version);
  }
  void on_response_impl(int, string_view, int, error_code& ec) override {
    ec = beast_http::error::bad_method;
  }
  void on_field_impl(beast_http::field name, string_view name_string, string_view value,
                     error_code&) override {
    if (!request_.has_idempotency_key && boost::beast::iequals(name_string, "Idempotency-Key")) {
      request_.has_idempotency_key = true;
      request_.idempotency_key.assign(value.data(), value.size());
    } else if (name == beast_http::field::authorization && !request_.has_authorization) {
      request_.has_authorization = true;
      request_.authorization.assign(value.data(), value.size());
    } else if (name == beast_http::field::expect && !extra_.expect_seen) {
      extra_.expect_seen = true;
      extra_.expect_continue = boost::beast::iequals(value, "100-continue");
    }
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  std::size_t on_body_impl(string_view body, error_code&) override {
    request_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    request_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  Request& request_;
  Extra& extra_;
};

// Runs the parser over what `buffer` holds (consuming what it used), at most `rounds` puts.
// True when a whole request has been parsed; false when more input is needed, or with `ec`
// set when the input is not an acceptable request.
inline bool put_request(RequestParser& parser, boost::beast::flat_buffer& buffer,
                        std::uint32_t rounds, boost::system::error_code& ec) {
  for (std::uint32_t round = 0; round < rounds && buffer.size() > 0; ++round) {
    const std::size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == beast_http::error::need_more) {
      ec = {};
      return false;
    }
    if (ec) return false;
    if (parser.is_done()) return true;
    if (used == 0) return false;
  }
  return false;
}

// The answer to a parse error from put_request(): 431, 413 or 400. False for a request cut
// short by the end of the input (partial_message): nobody reads an answer to it, just close.
inline bool refusal_for(const boost::system::error_code& ec, Response& r) {
  if (ec == beast_http::error::partial_message) return false;
  if (ec == beast_http::error::header_limit) {
    r.status = 431;
    r.body = error_body("too_large",
                        "the request's header section is larger than http.header_bytes_max");
  } else if (ec == beast_http::error::body_limit || ec == beast_http::error::buffer_overflow) {
    r.status = 413;
    r.body = error_body("too_large", "the request body is larger than http.body_bytes_max");
  } else {
    r.status = 400;
    r.body = error_body("bad_request", "the request is not valid HTTP/1.1");
  }
  return true;
}

}  // namespace flashsaga::gateway
