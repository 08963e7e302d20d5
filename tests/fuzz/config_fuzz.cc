// config_fuzz: engine::load_config() over arbitrary TOML files (engine/config.h).
//
// The input is the file (written to a memfd, read back through /proc/self/fd, so nothing
// touches the disk). Checks: load_config() never crashes or throws; a refused file comes with
// a non-empty "<file>:..." message and leaves `out` untouched; an accepted file yields a
// config inside every documented range (rings powers of two, map size max >= initial, ...).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/config.h"

using namespace flashsaga;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "config_fuzz: %s\n", what);
    std::abort();
  }
}

bool pow2(std::uint64_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

int file() {
  static const int fd = ::memfd_create("config_fuzz.toml", 0);
  require(fd >= 0, "memfd_create failed");
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const int fd = file();
  require(::ftruncate(fd, 0) == 0, "ftruncate failed");
  require(::pwrite(fd, data, size, 0) == static_cast<ssize_t>(size), "pwrite failed");
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  engine::Config out;
  out.http_port = 1;  // a marker: a refused file must leave `out` as it was
  std::string error;
  const bool ok = engine::load_config(path, out, &error);
  if (!ok) {
    require(!error.empty(), "a refused file without a message");
    require(out.http_port == 1, "a refused file changed the config");
    return 0;
  }
  require(pow2(out.geometry.saga_ring_slots) && pow2(out.geometry.port_ring_slots),
          "rings not powers of two");
  require(out.geometry.ports >= 1, "no port");
  require(out.map_size_max_mib >= out.map_size_mib, "map_size_max_mib < map_size_mib");
  require(pow2(out.orders_in_memory), "orders_in_memory not a power of two");
  require(out.http_threads >= 1 && out.http_threads <= 64, "http.threads out of range");
  require(out.http_body_bytes_max >= 1024 && out.http_header_bytes_max >= 1024,
          "http limits out of range");
  require(ipc::deployment_bytes(out.geometry) > 0, "a geometry of no bytes");
  return 0;
}
