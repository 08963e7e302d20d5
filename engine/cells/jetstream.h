// jetstream: the little of libnats JetStream a cell link uses — streams, publish with a
// message id, durable pull consumers, explicit acks.
//
// Requires: libnats (Debian libnats-dev 3.4.1) and reachable nats-server(s) with JetStream.
// Guarantees: every call returns within its timeout; the connection reconnects by itself (any
//   server of the list, forever); errors come back as text, never as a crash. One thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace flashsaga::cells {

// One delivered stream message. ack() only after what it carried is durably applied.
class Delivery {
 public:
  virtual ~Delivery() = default;
  virtual const void* data() const noexcept = 0;
  virtual std::size_t size() const noexcept = 0;
  virtual std::uint64_t deliveries() const noexcept = 0;  // 1 the first time
  virtual bool ack() noexcept = 0;                        // waits for the server's confirmation
};

class JetStream {
 public:
  static std::unique_ptr<JetStream> connect(const std::vector<std::string>& servers,
                                            const std::string& name, std::string* error);
  virtual ~JetStream() = default;
  // Creates the stream if absent (file storage, `replicas` copies); an existing one is fine.
  virtual bool ensure_stream(const std::string& stream, const std::string& subjects, int replicas,
                             std::string* error) = 0;
  // Publishes with Nats-Msg-Id = msg_id and waits for the PubAck (duplicate or not).
  virtual bool publish(const std::string& subject, const void* data, std::size_t size,
                       const std::string& msg_id, std::string* error) = 0;
  // Binds (creating if absent) a durable pull consumer; returns its handle (>= 0) or -1.
  virtual int pull_consumer(const std::string& stream, const std::string& filter,
                            const std::string& durable, std::int64_t ack_wait_ms,
                            std::string* error) = 0;
  // Fetches up to `batch` messages (waits at most timeout_ms) and hands each to fn in order.
  // Returns how many were fetched, or -1 on error (timeouts are 0, not errors).
  virtual int fetch(int consumer, int batch, std::int64_t timeout_ms,
                    const std::function<void(Delivery&)>& fn, std::string* error) = 0;
};

}  // namespace flashsaga::cells
