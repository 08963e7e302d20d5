// What each record type carries, and finding a deployment's domains by name.
#include <fmt/format.h>
#include <sys/stat.h>

#include "tools/check/check.h"

namespace flashsaga::tools {

using domains::RecordType;
using ipc::Domain;

Domain parse_domain_name(std::string_view name) noexcept {
  for (Domain d : journal_domains)
    if (ipc::domain_name(d) == name) return d;
  return Domain::none;
}

std::string data_dir_problem(const std::filesystem::path& data_dir) {
  struct stat st {};
  if (::stat(data_dir.c_str(), &st) != 0)
    return fmt::format("no deployment at {}: the directory does not exist (check --data)",
                       data_dir.string());
  if (!S_ISDIR(st.st_mode))
    return fmt::format("{} is not a directory (check --data)", data_dir.string());
  return {};
}

bool record_carries_event(RecordType type) noexcept {
  switch (type) {
    case RecordType::user_created:
    case RecordType::user_updated:
    case RecordType::product_created:
    case RecordType::product_updated:
    case RecordType::coupon_template_created:
    case RecordType::coupon_issued:
    case RecordType::order_pending:
    case RecordType::batch_note:
      return false;
    default:
      return record_type_known(static_cast<std::uint16_t>(type));
  }
}

std::size_t payload_size_for(RecordType type) noexcept {
  switch (type) {
    case RecordType::user_created:
    case RecordType::user_updated:
      return sizeof(domains::UserRow);
    case RecordType::product_created:
    case RecordType::product_updated:
      return sizeof(domains::ProductRow);
    case RecordType::coupon_template_created:
      return sizeof(domains::TemplateRow);
    case RecordType::coupon_issued:
      return sizeof(domains::CouponRow);
    case RecordType::order_pending:
      return sizeof(domains::OrderRow);
    case RecordType::batch_note:
      return 0;
    default:
      break;
  }
  return record_type_known(static_cast<std::uint16_t>(type)) ? sizeof(domains::Event) : 0;
}

bool record_type_known(std::uint16_t type) noexcept {
  return domains::record_type_name(static_cast<RecordType>(type)) != "unknown";
}

bool payload_size_ok(RecordType type, std::size_t size) noexcept {
  if (type == RecordType::batch_note) return size == 0;
  const std::size_t want = payload_size_for(type);
  return want != 0 && want == size;
}

}  // namespace flashsaga::tools
