# One helper per kind of target, so every module is wired the same way.
#
#   flashsaga_library(NAME SOURCES a.cc b.cc DEPS other_lib ...)
#   flashsaga_test(NAME SOURCES a_test.cc DEPS lib ... [LABELS quick|slow|sanitize] [TIMEOUT s])
#   flashsaga_benchmark(NAME SOURCES a_benchmark.cc DEPS lib ...)
#   flashsaga_fuzzer(NAME SOURCES a_fuzz.cc DEPS lib ...)   (fuzz preset only: tests/fuzz/)

set(FLASHSAGA_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
if(FLASHSAGA_WERROR)
  list(APPEND FLASHSAGA_WARNINGS -Werror)
endif()

function(_flashsaga_common target)
  target_compile_options(${target} PRIVATE ${FLASHSAGA_WARNINGS})
  # Headers are included from the source root ("engine/client.h"); installed, from
  # include/flashsaga (cmake/install.cmake).
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
                                              $<INSTALL_INTERFACE:include/flashsaga>)
  if(FLASHSAGA_SANITIZE STREQUAL "address")
    target_compile_options(${target} PUBLIC -fsanitize=address,undefined -fno-omit-frame-pointer
                                            -fno-sanitize-recover=undefined)
    # GCC 12 with ASan at -O1 reports std::function inside <regex> as maybe-uninitialized (a
    # false positive of GCC's, in libstdc++'s code): http_chaos_test includes <regex>.
    target_compile_options(${target} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)
    target_link_options(${target} PUBLIC -fsanitize=address,undefined)
  elseif(FLASHSAGA_SANITIZE STREQUAL "fuzzer")
    # The fuzz preset (clang++-16): libFuzzer's coverage in every target, ASan+UBSan; only the
    # fuzz targets (flashsaga_fuzzer) link libFuzzer's main.
    target_compile_options(${target} PUBLIC -fsanitize=fuzzer-no-link,address,undefined
                                            -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    target_link_options(${target} PUBLIC -fsanitize=address,undefined)
  elseif(FLASHSAGA_SANITIZE STREQUAL "thread")
    # -Wno-tsan: GCC refuses atomic_thread_fence under TSan, which does not model fences;
    # moodycamel's queue uses them internally. Our own code avoids fences in TSan builds
    # (see ipc/doorbell.cc).
    target_compile_options(${target} PUBLIC -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan)
    target_link_options(${target} PUBLIC -fsanitize=thread)
  endif()
endfunction()

function(flashsaga_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  _flashsaga_common(${name})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

function(flashsaga_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  _flashsaga_common(${name})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_LABELS)
    set(ARG_LABELS quick)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "FLASHSAGA_BIN=$<TARGET_FILE_DIR:${name}>")
endfunction()

function(flashsaga_benchmark name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  _flashsaga_common(${name})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} benchmark::benchmark)
endfunction()

function(flashsaga_fuzzer name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  _flashsaga_common(${name})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
endfunction()
