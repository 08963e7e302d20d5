// CRC32C (Castagnoli), the checksum on every message and journal record.
//
// Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at start-up) and a
// table otherwise; both give identical results. Thread-safe, no allocation.
//
//   std::uint32_t c = flashsaga::crc32c(bytes.data(), bytes.size());
#pragma once

#include <cstddef>
#include <cstdint>

namespace flashsaga {

// Returns the CRC32C of [data, data + size), continuing from `crc` (0 to start).
std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0) noexcept;

}  // namespace flashsaga
