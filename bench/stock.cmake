# bench/stock.cmake: the CAS reservation hot path and message seal/validate (see stock_benchmark.cc).
flashsaga_benchmark(stock_benchmark SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/stock_benchmark.cc DEPS flashsaga_engine)
