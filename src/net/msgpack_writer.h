// A msgpack writer over msgpack-cxx's packer that writes one record in
// either layout: an array [tag, field...] or a map {"type": tag, name: ...}.
#ifndef PAGEKV_NET_MSGPACK_WRITER_H_
#define PAGEKV_NET_MSGPACK_WRITER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "msgpack.hpp"
#include "pagekv/net/wire.h"

namespace pagekv::net::internal {

// msgpack-cxx's packer writes through write(const char*, size_t).
struct StringSink {
  std::string* out;
  void write(const char* data, size_t n) { out->append(data, n); }
};

class RecordWriter {
 public:
  RecordWriter(std::string* out, WireLayout layout)
      : sink_{out}, pk_(sink_), layout_(layout) {}

  msgpack::packer<StringSink>& packer() { return pk_; }

  // Opens a tagged record (an event) of `num_fields` fields after the tag.
  void BeginTagged(std::string_view tag, uint32_t num_fields) {
    if (layout_ == WireLayout::kArray) {
      pk_.pack_array(num_fields + 1);
    } else {
      pk_.pack_map(num_fields + 1);
      Str("type");
    }
    Str(tag);
  }
  // Opens an untagged record (the batch).
  void BeginRecord(uint32_t num_fields) {
    if (layout_ == WireLayout::kArray) {
      pk_.pack_array(num_fields);
    } else {
      pk_.pack_map(num_fields);
    }
  }
  // Writes the field's name (map layout only); the caller writes the value.
  void Field(std::string_view name) {
    if (layout_ == WireLayout::kMap) Str(name);
  }
  void Str(std::string_view s) {
    pk_.pack_str(static_cast<uint32_t>(s.size()));
    pk_.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
  }
  void OptStr(const std::optional<std::string>& s) {
    if (s) {
      Str(*s);
    } else {
      pk_.pack_nil();
    }
  }
  void OptInt(const std::optional<int64_t>& v) {
    if (v) {
      pk_.pack_int64(*v);
    } else {
      pk_.pack_nil();
    }
  }

 private:
  StringSink sink_;
  msgpack::packer<StringSink> pk_;
  WireLayout layout_;
};

}  // namespace pagekv::net::internal

#endif  // PAGEKV_NET_MSGPACK_WRITER_H_
