// The input format of the session_receiver fuzz target, shared with the seed writer.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace imgfuzz::receiver_input {

// Events and their arguments (big-endian numbers; a payload is its length, then its bytes).
enum class Op : std::uint8_t {
    snapshot_begin,   // tag 1, id index 1, protocol 1 (odd: remote)
    file_begin,       // file tag 1, snapshot tag 1, name (length 1)
    data,             // file tag 1, payload (length 2)
    data_at,          // file tag 1, offset 4, lane 1, payload (length 2)
    file_end,         // file tag 1, size 4, xxh3 8
    snapshot_end,     // tag 1, file count 2, total bytes 4
    snapshot_abort,   // tag 1
    drop,             // id index 1 (img-ctl drop)
    connection_lost,  // the session ends (fail_unfinished)
    raw_message,      // frame type 1, body (length 2)
};
inline constexpr unsigned kOps = 10;
inline constexpr std::array<const char*, 3> kIds{"job1", "job2", "/srv/migrate/job3"};

// Builds an input (seed_writer).
class Writer {
  public:
    explicit Writer(unsigned lanes) { out_ += static_cast<char>(lanes - 1); }
    Writer& op(Op op) { return number(static_cast<std::uint8_t>(op), 1); }
    Writer& number(std::uint64_t v, unsigned bytes) {
        for (unsigned i = bytes; i-- > 0;) out_ += static_cast<char>((v >> (8 * i)) & 0xff);
        return *this;
    }
    Writer& payload(std::string_view bytes, unsigned length_bytes) {
        number(bytes.size(), length_bytes);
        out_ += bytes;
        return *this;
    }
    [[nodiscard]] const std::string& bytes() const { return out_; }

  private:
    std::string out_;
};

}  // namespace imgfuzz::receiver_input
