// transport: where a domain's messages come from and go to — the runtime's one seam.
//
// The runtime never touches a ring, a doorbell or shared memory itself: it reads its inputs,
// publishes its outputs, answers ports and applies shared-memory effects through a Transport.
// Production uses RingTransport (shared-memory SPSC rings, engine/runtime/ring_transport.h);
// the deterministic simulator uses in-memory queues with faults (tests/sim); a distributed
// transport (another host's cell) plugs in the same way.
//
// Threads: the read side (inputs(), readable(), peek(), advance()) belongs to the business
//   thread; everything that happens after a batch is durable (release(), publish(), reply(),
//   apply(), acked()) to the committing thread. The two never share a call.
// Guarantees required of an implementation:
//   - peek(i, k) for k < readable(i) returns the k-th message after the read position, whole;
//   - a message read but not released is delivered again to a restarted consumer;
//   - publish() keeps per-output order and never drops: it takes a prefix and returns its size;
//   - acked(o) is a sequence the consumer of output o has durably applied (never more).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "domains/logic.h"
#include "ipc/message.h"

namespace flashsaga::runtime {

struct InputInfo {
  int edge = -1;  // stable edge number (the inbox cursor's key)
  ipc::Domain from = ipc::Domain::none;
  std::uint8_t from_port = 0;  // when from == Domain::port
  bool from_port_edge() const noexcept { return from == ipc::Domain::port; }
};

struct OutputInfo {
  int edge = -1;  // stable edge number (the outbox entries' tag)
  ipc::Domain to = ipc::Domain::none;
};

class Transport {
 public:
  virtual ~Transport() = default;

  // --- shape (fixed for the transport's lifetime) ----------------------------------------
  virtual std::span<const InputInfo> inputs() const noexcept = 0;
  virtual std::span<const OutputInfo> outputs() const noexcept = 0;
  // Scopes port edges' sequences, which restart with each shared-memory segment (0: none).
  virtual std::int64_t port_epoch() const noexcept = 0;

  // --- business thread ------------------------------------------------------------------
  virtual std::size_t readable(std::size_t input) noexcept = 0;
  virtual const ipc::Message& peek(std::size_t input, std::size_t k) noexcept = 0;
  virtual void advance(std::size_t input, std::size_t n) noexcept = 0;
  // The read position (messages consumed so far) to hand to release() once durable.
  virtual std::uint64_t read_position(std::size_t input) const noexcept = 0;

  // --- committing thread, after a batch is durable --------------------------------------
  // Frees input slots up to position; acked_sequence (domain edges) tells the producer what
  // it may stop re-sending.
  virtual void release(std::size_t input, std::uint64_t position,
                       std::uint64_t acked_sequence) noexcept = 0;
  // Publishes the longest prefix of ms that fits; returns its length.
  virtual std::size_t publish(std::size_t output, std::span<const ipc::Message> ms) noexcept = 0;
  virtual std::uint64_t acked(std::size_t output) const noexcept = 0;
  // Answers a port; false when its ring is full (the port's request times out; its client
  // retries with the same idempotency key).
  virtual bool reply(const ipc::Message& m) noexcept = 0;
  virtual void apply(const domains::Effect& e) noexcept = 0;
};

}  // namespace flashsaga::runtime
