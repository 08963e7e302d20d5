// batch_buffer: one applied batch on its way from the business thread to durability.
//
// The business thread (Agent) fills a BatchBuffer while it applies a batch in memory, then
// hands it to the committing thread (Committer), which journals it, applies its state entries
// to the view, and only then lets its consequences out: shared-memory effects, messages,
// replies, released inputs. A fixed pool of buffers circulates between the two threads
// (runtime.h), so the business thread can apply batch N+1 while batch N is being written and
// synced, and runs at most batch_buffers_max batches ahead of the disk.
//
// Every container is cleared, not freed, between uses: a warm pool does not allocate.
#pragma once

#include <cstdint>
#include <vector>

#include "domains/logic.h"
#include "ipc/message.h"
#include "journal/batch.h"

namespace flashsaga::runtime {

// How many batches the business thread may run ahead of the disk.
inline constexpr std::size_t batch_buffers_max = 4;

struct BatchBuffer {
  struct Send {
    std::uint16_t output;  // index into Transport::outputs()
    ipc::Message message;  // sealed, with its edge sequence
  };
  struct InputMark {
    std::uint64_t position = 0;       // read position after this batch
    std::uint64_t last_sequence = 0;  // last sequence applied on this edge
    bool moved = false;               // this batch read from the input
    bool applied = false;             // and applied something new (the inbox row changes)
  };

  std::uint64_t id = 0;           // batch number
  journal::BatchBuilder journal;  // records, state entries, outbox entries
  std::vector<Send> sends;
  std::vector<ipc::Message> replies;  // sealed; header.port says where
  std::vector<domains::Effect> effects;
  std::vector<InputMark> inputs;             // one per transport input
  std::vector<std::uint64_t> out_sequences;  // per output: last sequence assigned so far
  std::uint64_t messages_in = 0, invalid = 0, duplicate = 0;

  void clear(std::size_t input_count, std::size_t output_count) {
    id = 0;
    journal.clear();
    sends.clear();
    replies.clear();
    effects.clear();
    inputs.assign(input_count, InputMark{});
    out_sequences.assign(output_count, 0);
    messages_in = invalid = duplicate = 0;
  }
  bool has_journal() const noexcept { return journal.record_count() != 0; }
};

}  // namespace flashsaga::runtime
