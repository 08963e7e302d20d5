// console: what an operator opens during a sale: GET / (the live sale page), GET /stats (its
// numbers, as JSON) and GET /openapi.json (the contract). The page and the document are
// embedded in the binary (engine/gateway/assets.h).
#include <optional>
#include <string>

#include "engine/gateway/api.h"
#include "engine/gateway/assets.h"

namespace flashsaga::gateway {

void Api::openapi(const Request&, const PathParams&, const ExchangePtr& ex) {
  Response r;
  r.status = 200;
  r.content_type = "application/json";
  r.body = std::string(embedded::openapi_json());
  ex->respond(std::move(r));
}

void Api::sale_page(const Request&, const PathParams&, const ExchangePtr& ex) {
  Response r;
  r.status = 200;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::string(embedded::sale_page());
  ex->respond(std::move(r));
}

void Api::stats(const Request&, const PathParams&, const ExchangePtr& ex) {
  sale_.update(store_);
  Response r;
  r.status = 200;
  r.body = stats_json(deployment_, store_, sale_, metrics_.sold_out_answers(), "gateway");
  ex->respond(std::move(r));
}

}  // namespace flashsaga::gateway
