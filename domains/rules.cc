#include "domains/rules.h"

#include "engine/base/limits.h"

namespace flashsaga::domains {
namespace {

bool is_control(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

}  // namespace

bool user_name_valid(std::string_view name) noexcept {
  if (name.empty() || name.size() > name_size_bytes) return false;
  for (char c : name)
    if (is_control(c)) return false;
  return true;
}

bool user_email_valid(std::string_view email) noexcept {
  if (email.size() > email_size_bytes) return false;
  const std::size_t at = email.find('@');
  if (at == std::string_view::npos || at == 0) return false;
  if (email.find('@', at + 1) != std::string_view::npos) return false;
  for (char c : email)
    if (c == ' ' || is_control(c)) return false;
  const std::string_view domain = email.substr(at + 1);
  const std::size_t dot = domain.find('.');
  if (dot == std::string_view::npos || dot == 0) return false;
  return domain.back() != '.';
}

bool coupon_template_expired(const TemplateRow& tpl, std::int64_t now_ns) noexcept {
  return tpl.expires_at_ns != 0 && tpl.expires_at_ns <= now_ns;
}

}  // namespace flashsaga::domains
