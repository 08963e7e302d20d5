// message_fuzz: ipc::validate() over arbitrary 256-byte messages (ipc/message.h).
//
// Input: one flag byte, then up to 256 message bytes (the rest zero). Flag bit 0 seals the
// message first (so the checksum holds and the body validators are reached); bit 1 also sets
// the magic, version and the type's body size, which a mutator rarely finds by itself.
// Checks: validate() never crashes or reads past the message; its answer is a known error;
// it is a pure function (the same answer twice); a sealed message is never bad_checksum; an
// accepted message stays accepted when re-sealed, and any one flipped bit makes it rejected.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "ipc/message.h"

using namespace flashsaga::ipc;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "message_fuzz: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  Message m{};
  std::memcpy(&m, data + 1, std::min(size - 1, sizeof m));
  if ((flags & 2) != 0) {
    m.header.magic = message_magic;
    m.header.layout_version = message_layout_version;
    m.header.body_size = body_size_for(static_cast<MessageType>(m.header.type));
  }
  if ((flags & 1) != 0) seal(m);
  const Message before = m;
  const MessageError e = validate(m);
  require(std::memcmp(&before, &m, sizeof m) == 0, "validate() changed the message");
  require(message_error_name(e) != "unknown", "validate() returned an unknown error");
  require(validate(m) == e, "validate() is not a pure function");
  if ((flags & 1) != 0)
    require(e != MessageError::bad_checksum, "a sealed message is bad_checksum");
  if (e == MessageError::ok) {
    require(message_type_name(static_cast<MessageType>(m.header.type)) != "Unknown",
            "an accepted message has an unknown type");
    require(m.header.body_size == body_size_for(static_cast<MessageType>(m.header.type)),
            "an accepted message has the wrong body size");
    Message copy = m;
    seal(copy);
    require(validate(copy) == MessageError::ok, "an accepted message is refused once re-sealed");
    const std::size_t bit = (size * 7919u) % (sizeof m * 8);
    reinterpret_cast<std::uint8_t*>(&copy)[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    require(validate(copy) != MessageError::ok, "a flipped bit went unnoticed");
  }
  return 0;
}
