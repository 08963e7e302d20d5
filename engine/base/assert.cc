#include "engine/base/assert.h"

#include <cstdio>
#include <cstdlib>

namespace flashsaga::detail {

void assert_fail(const char* condition, const char* file, int line) noexcept {
  std::fprintf(stderr, "flashsaga: assertion failed: %s (%s:%d)\n", condition, file, line);
  std::fflush(stderr);
  std::abort();
}

}  // namespace flashsaga::detail
