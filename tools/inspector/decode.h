// decode: a journal record as the inspector shows it — its type's name and the meaningful
// fields of its Event or row, each with a name ("product=3 quantity=2 available=98").
//
// Requires: a RecordView from ReadTxn::records (checksum already verified).
// Guarantees: every RecordType of domains/rows.h decodes; a type this binary does not know (a
//   newer writer) or a payload of the wrong size decodes as "undecodable" with its size, never
//   a crash. decode() does not allocate; the text views it produces point into the
//   DecodedRecord itself (a copy of the payload), so they outlive the read transaction.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "domains/rows.h"
#include "ipc/message.h"
#include "journal/journal.h"
#include "tools/inspector/output.h"

namespace flashsaga::tools {

struct FieldValue {
  enum class Kind : std::uint8_t {
    u64,
    i64,
    text,
    name,
    time
  };  // name: an identifier, never quoted
  std::string_view name;
  Kind kind = Kind::u64;
  std::uint64_t u = 0;
  std::int64_t i = 0;  // i64, and time (wall ns; 0 shows as none)
  std::string_view text;
};

inline constexpr std::size_t decoded_fields_max = 16;
inline constexpr std::size_t decoded_row_bytes_max = 256;  // the largest row (OrderRow) fits

struct DecodedRecord {
  ipc::Domain domain = ipc::Domain::none;
  std::uint64_t sequence = 0;
  journal::RecordHeader header{};
  std::string_view type_name;  // "order_pending", or "unknown"
  bool known = false;          // a RecordType this binary knows
  bool decodable = false;      // known, and the payload has that type's size
  bool is_event = false;
  domains::Event event{};  // when is_event
  std::array<FieldValue, decoded_fields_max> fields{};
  std::size_t field_count = 0;
  alignas(8) std::array<std::byte, decoded_row_bytes_max> row{};  // a row payload, copied
  std::array<char, 256> items{};  // order_pending: "p1x2@500 p3x1@20"
};

void decode_record(ipc::Domain domain, const journal::RecordView& r, DecodedRecord& out);

// "order_pending" or a number -> the type; false for a name this binary does not know.
bool parse_record_type(std::string_view text, std::uint16_t& type);
// Every record type name, comma separated (for error messages).
std::string record_type_names();

// One line, no newline: "SEQ  TIME  [DOMAIN]  TYPE  order=ID  field=value ...".
void append_text_line(fmt::memory_buffer& out, const DecodedRecord& d, TimeFormatter& time,
                      bool with_domain, const Style& style);
// Only the "field=value ..." part.
void append_fields_text(fmt::memory_buffer& out, const DecodedRecord& d, TimeFormatter& time);
// One JSON object, no newline: {"domain":..,"seq":..,"time":..,"time_ns":..,"type":..,"order_id":..,fields}.
void append_json_line(fmt::memory_buffer& out, const DecodedRecord& d, TimeFormatter& time);
// One CSV row, no newline, in the columns of csv_header().
std::string_view csv_header();
void append_csv_line(fmt::memory_buffer& out, const DecodedRecord& d, TimeFormatter& time);

}  // namespace flashsaga::tools
