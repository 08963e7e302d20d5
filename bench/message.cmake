# bench/message.cmake: message encode (make_message + seal), validate, decode, and bare CRC32C
# (see message_benchmark.cc).
flashsaga_benchmark(message_benchmark SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/message_benchmark.cc DEPS flashsaga_ipc)
