# Ring benchmarks: our SPSC ring (in-process and across processes) beside boost::lockfree::spsc_queue
# and moodycamel::ReaderWriterQueue, plus cross-process ping-pong latency. See ring_benchmark.cc.
flashsaga_benchmark(ring_benchmark SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/ring_benchmark.cc
                    DEPS flashsaga_ipc)
target_link_libraries(ring_benchmark PRIVATE Boost::headers)
