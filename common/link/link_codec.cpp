// Link frame headers and message encoding.
#include "link/link_codec.hpp"

#include <cstring>

namespace imgx::link {

namespace {

void put_le32(unsigned char* out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out[i] = static_cast<unsigned char>(v >> (8 * i));
}
void put_le64(unsigned char* out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(v >> (8 * i));
}
std::uint32_t get_le32(const unsigned char* in) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | in[i];
    return v;
}
std::uint64_t get_le64(const unsigned char* in) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | in[i];
    return v;
}

}  // namespace

std::string_view frame_type_name(FrameType type) {
    switch (type) {
        case FrameType::hello:
            return "HELLO";
        case FrameType::snapshot_begin:
            return "SNAPSHOT_BEGIN";
        case FrameType::file_begin:
            return "FILE_BEGIN";
        case FrameType::data:
            return "DATA";
        case FrameType::file_end:
            return "FILE_END";
        case FrameType::snapshot_end:
            return "SNAPSHOT_END";
        case FrameType::snapshot_abort:
            return "SNAPSHOT_ABORT";
        case FrameType::file_ack:
            return "FILE_ACK";
        case FrameType::snapshot_result:
            return "SNAPSHOT_RESULT";
        case FrameType::ack:
            return "ACK";
        case FrameType::data_at:
            return "DATA_AT";
        case FrameType::data_zstd:
            return "DATA_ZSTD";
    }
    return "UNKNOWN";
}

HeaderBytes encode_header(FrameType type, std::uint32_t body_length) {
    HeaderBytes out{};
    put_le32(out.data(), body_length);
    out[4] = static_cast<unsigned char>(type);
    return out;
}

FrameHeader decode_header(const HeaderBytes& bytes) {
    const std::uint32_t length = get_le32(bytes.data());
    const auto raw_type = bytes[4];
    if (raw_type < static_cast<unsigned>(FrameType::hello) ||
        raw_type > static_cast<unsigned>(FrameType::data_zstd))
        throw wire::ProtocolError("unknown link frame type " + std::to_string(raw_type));
    if (bytes[5] || bytes[6] || bytes[7])
        throw wire::ProtocolError("non-zero reserved bytes in a link frame header");
    const auto type = static_cast<FrameType>(raw_type);
    if (is_data(type)) {
        const std::size_t prefix = data_prefix_bytes(type);
        if (length < prefix || length - prefix > kMaxDataPayload)
            throw wire::ProtocolError(std::string(frame_type_name(type)) + " frame of " +
                                      std::to_string(length) + " bytes is out of range");
    } else if (length > kMaxMessageBody) {
        throw wire::ProtocolError(std::string(frame_type_name(type)) + " frame of " +
                                  std::to_string(length) + " bytes exceeds the limit");
    }
    return {type, length};
}

void check_preamble(const std::array<char, 8>& bytes) {
    if (std::memcmp(bytes.data(), kPreamble.data(), 7) != 0)
        throw wire::ProtocolError("peer does not speak the img-transfer link protocol");
    if (bytes[7] != kPreamble[7])
        throw wire::ProtocolError("peer speaks link protocol version " +
                                  std::to_string(static_cast<unsigned char>(bytes[7])) +
                                  ", we speak " + std::to_string(kVersion));
}

std::string encode_message(FrameType type, const google::protobuf::MessageLite& message) {
    const auto body = static_cast<std::uint32_t>(message.ByteSizeLong());
    std::string out(kHeaderBytes + body, '\0');
    auto header = encode_header(type, body);
    std::memcpy(out.data(), header.data(), kHeaderBytes);
    message.SerializeWithCachedSizesToArray(
        reinterpret_cast<std::uint8_t*>(out.data() + kHeaderBytes));
    return out;
}

DataHeaderBytes encode_data_header(std::uint64_t file_tag, std::uint32_t payload_length) {
    DataHeaderBytes out{};
    auto header =
        encode_header(FrameType::data, payload_length + static_cast<std::uint32_t>(kDataTagBytes));
    std::memcpy(out.data(), header.data(), kHeaderBytes);
    put_le64(out.data() + kHeaderBytes, file_tag);
    return out;
}

std::uint64_t decode_data_tag(const std::array<unsigned char, kDataTagBytes>& bytes) {
    return get_le64(bytes.data());
}

DataAtHeaderBytes encode_data_at_header(std::uint64_t file_tag, std::uint64_t offset,
                                        std::uint32_t payload_length) {
    DataAtHeaderBytes out{};
    auto header = encode_header(FrameType::data_at,
                                payload_length + static_cast<std::uint32_t>(kDataAtPrefixBytes));
    std::memcpy(out.data(), header.data(), kHeaderBytes);
    put_le64(out.data() + kHeaderBytes, file_tag);
    put_le64(out.data() + kHeaderBytes + 8, offset);
    return out;
}

DataAtPrefix decode_data_at_prefix(const std::array<unsigned char, kDataAtPrefixBytes>& bytes) {
    return {get_le64(bytes.data()), get_le64(bytes.data() + 8)};
}

DataZstdHeaderBytes encode_data_zstd_header(std::uint64_t file_tag, std::uint64_t offset,
                                            std::uint32_t original_length,
                                            std::uint32_t compressed_length) {
    DataZstdHeaderBytes out{};
    auto header = encode_header(
        FrameType::data_zstd, compressed_length + static_cast<std::uint32_t>(kDataZstdPrefixBytes));
    std::memcpy(out.data(), header.data(), kHeaderBytes);
    put_le64(out.data() + kHeaderBytes, file_tag);
    put_le64(out.data() + kHeaderBytes + 8, offset);
    put_le32(out.data() + kHeaderBytes + 16, original_length);
    return out;
}

DataZstdPrefix decode_data_zstd_prefix(
    const std::array<unsigned char, kDataZstdPrefixBytes>& bytes) {
    const DataZstdPrefix prefix{get_le64(bytes.data()), get_le64(bytes.data() + 8),
                                get_le32(bytes.data() + 16)};
    if (prefix.original_length == 0 || prefix.original_length > kMaxDataPayload)
        throw wire::ProtocolError("DATA_ZSTD frame for file tag " +
                                  std::to_string(prefix.file_tag) + " names an original size of " +
                                  std::to_string(prefix.original_length) + " bytes (1-" +
                                  std::to_string(kMaxDataPayload) + " allowed)");
    return prefix;
}

}  // namespace imgx::link
