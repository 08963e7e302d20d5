// FS_ASSERT: assertions that stay on in release builds (STYLE.md rule 8).
//
// Assert programmer errors (a step moving backwards, a layout mismatch); return operating
// errors (sold out, disk full). One condition per assert, so a failure names exactly what broke.
#pragma once

namespace flashsaga::detail {
[[noreturn]] void assert_fail(const char* condition, const char* file, int line) noexcept;
}  // namespace flashsaga::detail

#define FS_ASSERT(condition)                                            \
  do {                                                                  \
    if (!(condition)) [[unlikely]]                                      \
      ::flashsaga::detail::assert_fail(#condition, __FILE__, __LINE__); \
  } while (0)
