# domains/leaf.cmake: the leaf domains (user, point, coupon, payment) and the row names.
# Included from domains/CMakeLists.txt (and from tests/domains when built on its own).
# Batch::reply and counter_get/counter_put come from the runtime (domains/runtime.cc), which
# the final executable links; this library does not define them.
include_guard(GLOBAL)

flashsaga_library(flashsaga_domains_leaf
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/rows.cc
    ${CMAKE_CURRENT_LIST_DIR}/user/user_domain.cc
    ${CMAKE_CURRENT_LIST_DIR}/point/point_domain.cc
    ${CMAKE_CURRENT_LIST_DIR}/coupon/coupon_domain.cc
    ${CMAKE_CURRENT_LIST_DIR}/payment/payment_domain.cc
  DEPS flashsaga_journal flashsaga_ipc flashsaga_base)
