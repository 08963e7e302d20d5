# bench/journal.cmake: journal append throughput beside raw LMDB (see journal_benchmark.cc).
flashsaga_benchmark(journal_benchmark SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/journal_benchmark.cc
                    DEPS flashsaga_journal)
