// rules: the checks a domain makes on a command that the gateway makes too, before it sends
// the command (so a bad request is answered without a round trip) or when it serves a row.
// The domain stays the judge: it applies the same function again in its batch.
#pragma once

#include <cstdint>
#include <string_view>

#include "domains/rows.h"

namespace flashsaga::domains {

// Whether a name is acceptable: 1..name_size_bytes bytes, no ASCII control characters.
bool user_name_valid(std::string_view name) noexcept;
// Whether an e-mail address looks like one: at most email_size_bytes, exactly one '@', a
// non-empty local part, a domain with a dot that neither starts nor ends it, no spaces or
// control characters.
bool user_email_valid(std::string_view email) noexcept;

// Whether a template has expired at `now_ns` (expires_at_ns != 0 and <= now_ns).
bool coupon_template_expired(const TemplateRow& tpl, std::int64_t now_ns) noexcept;

}  // namespace flashsaga::domains
