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
// A DATA_ZSTD body: u64 file tag, u64 file offset, u32 size of the original bytes, then the
// chunk compressed with zstd (one zstd frame).
inline constexpr std::size_t kDataZstdPrefixBytes = 20;
// Hello.codecs bits: the chunk compressions a side offers (proxy) or accepts (cache).
inline constexpr std::uint32_t kCodecZstd = 1;
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
    data_zstd = 12,
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

// Whether frames of `type` carry file bytes after a fixed prefix (DATA, DATA_AT, DATA_ZSTD).
constexpr bool is_data(FrameType type) {
    return type == FrameType::data || type == FrameType::data_at || type == FrameType::data_zstd;
}
// The fixed prefix before the file bytes of a DATA, DATA_AT or DATA_ZSTD body.
constexpr std::size_t data_prefix_bytes(FrameType type) {
    if (type == FrameType::data_zstd) return kDataZstdPrefixBytes;
    return type == FrameType::data_at ? kDataAtPrefixBytes : kDataTagBytes;
}

// The codecs both sides can use: what the proxy offers and the cache supports (a peer that does
// not know Hello.codecs sends 0: none).
constexpr std::uint32_t negotiate_codecs(std::uint32_t offered, std::uint32_t supported) {
    return offered & supported;
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

// Header and prefix of a DATA_ZSTD frame: `compressed_length` bytes of zstd follow, which
// decompress to `original_length` bytes of the file at `offset`.
using DataZstdHeaderBytes = std::array<unsigned char, kHeaderBytes + kDataZstdPrefixBytes>;
DataZstdHeaderBytes encode_data_zstd_header(std::uint64_t file_tag, std::uint64_t offset,
                                            std::uint32_t original_length,
                                            std::uint32_t compressed_length);
struct DataZstdPrefix {
    std::uint64_t file_tag;
    std::uint64_t offset;
    std::uint32_t original_length;
};
// Throws wire::ProtocolError for an original length of 0 or beyond kMaxDataPayload.
DataZstdPrefix decode_data_zstd_prefix(
    const std::array<unsigned char, kDataZstdPrefixBytes>& bytes);

}  // namespace imgx::link
