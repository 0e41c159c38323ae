// Framing of the img-proxyd <-> img-cached link (docs/link-protocol.md). Pure functions.
#pragma once

#include <google/protobuf/message_lite.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "wire/frame.hpp"

namespace imgx::link {

inline constexpr std::uint32_t kVersion = 2;
// Sent first by both sides: 7 bytes of magic and the version number as one byte.
inline constexpr std::array<char, 8> kPreamble = {'I', 'M', 'G', 'X',
                                                  'L', 'N', 'K', char(kVersion)};

// Every frame: u32 little-endian body length, u8 type, 3 zero bytes, then the body.
inline constexpr std::size_t kHeaderBytes = 8;
// A DATA body: u64 little-endian file tag, then the file's bytes.
inline constexpr std::size_t kDataTagBytes = 8;
// A DATA_AT body (multi-lane sessions): u64 file tag, u64 file offset, then the file's bytes.
inline constexpr std::size_t kDataAtPrefixBytes = 16;
// Connections (lanes) one link session may use; img-cached accepts up to this many.
inline constexpr std::uint32_t kMaxLanes = 16;
inline constexpr std::uint32_t kMaxMessageBody = 64 * 1024;
inline constexpr std::uint32_t kMaxDataPayload = 8 * 1024 * 1024;

enum class FrameType : std::uint8_t {
    hello = 1,
    snapshot_begin = 2,
    file_begin = 3,
    data = 4,
    file_end = 5,
    snapshot_end = 6,
    snapshot_abort = 7,
    file_ack = 8,
    snapshot_result = 9,
    ack = 10,
    data_at = 11,
};

// Whether frames of `type` carry a sequence number (every type but HELLO and ACK).
constexpr bool is_numbered(FrameType type) {
    return type != FrameType::hello && type != FrameType::ack;
}

struct FrameHeader {
    FrameType type;
    std::uint32_t body_length;
};

std::string_view frame_type_name(FrameType type);

using HeaderBytes = std::array<unsigned char, kHeaderBytes>;
HeaderBytes encode_header(FrameType type, std::uint32_t body_length);

// Validates type, reserved bytes and length limits; throws wire::ProtocolError.
FrameHeader decode_header(const HeaderBytes& bytes);

// Checks the 8 bytes a peer sent first; throws wire::ProtocolError naming what is wrong.
void check_preamble(const std::array<char, 8>& bytes);

// Header + protobuf body, ready to write.
std::string encode_message(FrameType type, const google::protobuf::MessageLite& message);

// Whether frames of `type` carry file bytes after a fixed prefix (DATA, DATA_AT).
constexpr bool is_data(FrameType type) {
    return type == FrameType::data || type == FrameType::data_at;
}
// The fixed prefix before the file bytes of a DATA or DATA_AT body.
constexpr std::size_t data_prefix_bytes(FrameType type) {
    return type == FrameType::data_at ? kDataAtPrefixBytes : kDataTagBytes;
}

// Header + file tag of a DATA frame whose payload of `payload_length` bytes follows.
using DataHeaderBytes = std::array<unsigned char, kHeaderBytes + kDataTagBytes>;
DataHeaderBytes encode_data_header(std::uint64_t file_tag, std::uint32_t payload_length);
std::uint64_t decode_data_tag(const std::array<unsigned char, kDataTagBytes>& bytes);

// Header, file tag and offset of a DATA_AT frame whose payload of `payload_length` bytes follows.
using DataAtHeaderBytes = std::array<unsigned char, kHeaderBytes + kDataAtPrefixBytes>;
DataAtHeaderBytes encode_data_at_header(std::uint64_t file_tag, std::uint64_t offset,
                                        std::uint32_t payload_length);
struct DataAtPrefix {
    std::uint64_t file_tag;
    std::uint64_t offset;
};
DataAtPrefix decode_data_at_prefix(const std::array<unsigned char, kDataAtPrefixBytes>& bytes);

}  // namespace imgx::link
