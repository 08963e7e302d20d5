#include "domains/state.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace flashsaga::domains {

void state_read_failed(std::string_view table, const journal::Status& s) {
  std::fprintf(stderr,
               "flashsaga[%d]: cannot read this domain's own view (%.*s): %s; stopping, so that "
               "the restart rebuilds it from the journal\n",
               static_cast<int>(::getpid()), static_cast<int>(table.size()), table.data(),
               s.message().c_str());
  std::_Exit(70);  // EX_SOFTWARE: the supervisor restarts the process
}

journal::Status Counter::load(const journal::Env& view, const journal::ReadTxn& txn) {
  value_ = 0;
  const journal::TableId table = view.table(view_counters_table_name);
  journal::Status s = txn.get_as(table, journal::as_bytes(std::string_view(name_)), value_);
  if (s.code() == journal::ErrorCode::not_found) return {};
  return s;
}

}  // namespace flashsaga::domains
