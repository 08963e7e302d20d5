#include "domains/counters.h"

namespace flashsaga::domains {

journal::Status counter_get(const journal::ReadTxn& txn, journal::TableId table, std::string_view name,
                            std::uint64_t& value) {
  std::uint64_t v = 0;
  journal::Status s = txn.get_as(table, journal::as_bytes(name), v);
  if (s.code() == journal::ErrorCode::not_found) {
    value = 0;
    return {};
  }
  if (s.ok()) value = v;
  return s;
}

journal::Status counter_put(journal::WriteTxn& txn, journal::TableId table, std::string_view name,
                            std::uint64_t value) {
  return txn.put(table, journal::as_bytes(name), journal::as_bytes(value));
}

}  // namespace flashsaga::domains
