// Each view against its journal (invariant 7), and the order of the whole evaluation.
#include <fmt/format.h>

#include "tools/check/pass.h"

namespace flashsaga::tools {

using ipc::Domain;

// A view holds its journal's state up to its position: it is never past the journal's end, it
// was built from this journal (the journal's creation time), its position ends a batch, and a
// deployment at rest (require_terminal) has applied everything.
void Pass::evaluate_views() {
  for (Domain d : journal_domains) {
    const DomainSnapshot& s = snap(d);
    const std::uint64_t at = s.position.last_sequence;
    const std::string name(ipc::domain_name(d));
    if (at != 0 && s.position.journal_created_ns != 0 &&
        s.position.journal_created_ns != s.journal_created_ns) {
      add(7, 0, d, at, "foreign",
          fmt::format(
              "the {} view was built from another journal (created at {} ns; this one at {} ns)",
              name, s.position.journal_created_ns, s.journal_created_ns));
      continue;
    }
    if (at > s.journal_end) {
      add(7, 0, d, s.journal_end, "ahead",
          fmt::format(
              "the {} view says it holds the journal up to sequence {}, but the journal ends at {}",
              name, at, s.journal_end));
      continue;
    }
    if (!s.overlay_problem.empty()) {
      add(7, 0, d, at, "misaligned",
          fmt::format("the {} view cannot be brought up to its journal: {}", name,
                      s.overlay_problem));
      continue;
    }
    if (at == s.journal_end) continue;
    ++report_.views_behind;
    if (opt_.require_terminal)
      add(7, 0, d, at + 1, "behind",
          fmt::format(
              "the {} view holds its journal up to sequence {}, {} records short of its end {} "
              "(--require-terminal: a deployment at rest has applied everything)",
              name, at, s.journal_end - at, s.journal_end));
  }
}

void Pass::evaluate() {
  evaluate_orders();
  evaluate_products();
  evaluate_coupons();
  evaluate_points();
  evaluate_payments();
  evaluate_orphans();
  evaluate_views();
}

}  // namespace flashsaga::tools
