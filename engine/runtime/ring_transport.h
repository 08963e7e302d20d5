// ring_transport: the production Transport — shared-memory SPSC rings of one deployment.
//
// Inputs are the rings into this domain (from the other domains and from every ingress port),
// read with ipc::RingReader so the business thread reads ahead of what the committing thread
// frees. Outputs are the rings to the other domains; replies go to the port named in each
// reply's header. Effects land on the deployment's stock slots and control block. Every
// producer rings its consumer's doorbell after a publish (one fence, one doorbell per batch
// per edge).
//
// Requires: an attached Deployment that outlives the transport; one RingTransport per domain
//   process.
#pragma once

#include <vector>

#include "ipc/deployment.h"
#include "engine/runtime/transport.h"
#include "ipc/spsc_ring.h"

namespace flashsaga::runtime {

class RingTransport final : public Transport {
 public:
  RingTransport(ipc::Deployment& deployment, ipc::Domain self);

  std::span<const InputInfo> inputs() const noexcept override { return input_info_; }
  std::span<const OutputInfo> outputs() const noexcept override { return output_info_; }
  std::int64_t port_epoch() const noexcept override { return deployment_.segment_id(); }

  std::size_t readable(std::size_t input) noexcept override { return readers_[input].readable(); }
  const ipc::Message& peek(std::size_t input, std::size_t k) noexcept override {
    return readers_[input].peek(k);
  }
  void advance(std::size_t input, std::size_t n) noexcept override { readers_[input].advance(n); }
  std::uint64_t read_position(std::size_t input) const noexcept override {
    return readers_[input].position();
  }

  void release(std::size_t input, std::uint64_t position,
               std::uint64_t acked_sequence) noexcept override;
  std::size_t publish(std::size_t output, std::span<const ipc::Message> ms) noexcept override {
    return producers_[output].try_publish_batch(ms);
  }
  std::uint64_t acked(std::size_t output) const noexcept override {
    return producers_[output].ring().load_acked();
  }
  bool reply(const ipc::Message& m) noexcept override;
  void apply(const domains::Effect& e) noexcept override;

 private:
  ipc::Deployment& deployment_;
  std::vector<InputInfo> input_info_;
  std::vector<OutputInfo> output_info_;
  std::vector<ipc::RingReader> readers_;
  std::vector<ipc::SpscRing> input_rings_;
  std::vector<ipc::RingProducer> producers_;
  std::vector<ipc::RingProducer> reply_producers_;  // index = port
};

}  // namespace flashsaga::runtime
