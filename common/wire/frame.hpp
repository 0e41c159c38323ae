// CRIU's record framing: a 4-byte length in host byte order, then exactly that many protobuf bytes.
#pragma once

#include <google/protobuf/message_lite.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace imgx::wire {

inline constexpr std::size_t kLengthBytes = 4;
// CRIU's frames carry one name or id; a name is at most 255 bytes and a -D path at most
// PATH_MAX, so anything above this is garbage and must not make us allocate.
inline constexpr std::uint32_t kMaxFrameBody = 16 * 1024;

// Malformed bytes from a peer: the connection that sent them is closed, nothing else.
struct ProtocolError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Length prefix as CRIU writes it: native order (little-endian on every host we build for).
std::uint32_t decode_length(const unsigned char (&bytes)[kLengthBytes]);

// Throws ProtocolError if `length` exceeds `max_body`.
void check_length(std::uint32_t length, std::uint32_t max_body = kMaxFrameBody);

// Length prefix + serialized message, ready for a single write.
std::string encode_frame(const google::protobuf::MessageLite& message);

// Parses a frame body; throws ProtocolError naming `what` if it is not a complete message
// (protobuf-c and libprotobuf both refuse proto2 messages lacking a required field).
void decode_body(std::string_view body, google::protobuf::MessageLite& out, std::string_view what);

}  // namespace imgx::wire
