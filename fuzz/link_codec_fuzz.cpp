// Fuzz target: what img-cached and img-proxyd read from a link peer: the preamble, frame headers,
// the control messages (HELLO ... SNAPSHOT_RESULT), DATA frame tags and DATA_AT tags and offsets.
#include <memory>

#include "fuzz_check.hpp"
#include "link.pb.h"
#include "link/link_codec.hpp"

using namespace imgx;

namespace {

// The message type each control frame carries, as the two daemons decode it.
std::unique_ptr<google::protobuf::MessageLite> message_for(link::FrameType type) {
    switch (type) {
        case link::FrameType::hello:
            return std::make_unique<link::Hello>();
        case link::FrameType::ack:
            return std::make_unique<link::Ack>();
        case link::FrameType::snapshot_begin:
            return std::make_unique<link::SnapshotBegin>();
        case link::FrameType::file_begin:
            return std::make_unique<link::FileBegin>();
        case link::FrameType::file_end:
            return std::make_unique<link::FileEnd>();
        case link::FrameType::snapshot_end:
            return std::make_unique<link::SnapshotEnd>();
        case link::FrameType::snapshot_abort:
            return std::make_unique<link::SnapshotAbort>();
        case link::FrameType::file_ack:
            return std::make_unique<link::FileAck>();
        case link::FrameType::snapshot_result:
            return std::make_unique<link::SnapshotResult>();
        case link::FrameType::data:
        case link::FrameType::data_at:
        case link::FrameType::data_zstd:
            break;
    }
    return nullptr;
}

void check_header(const link::HeaderBytes& bytes, const link::FrameHeader& header) {
    // Accepted headers are exactly what our encoder writes for them (type known, reserved zero).
    FUZZ_CHECK(link::encode_header(header.type, header.body_length) == bytes);
    FUZZ_CHECK(link::frame_type_name(header.type) != "UNKNOWN");
    if (link::is_data(header.type)) {
        const std::size_t prefix = link::data_prefix_bytes(header.type);
        FUZZ_CHECK(header.body_length >= prefix);
        FUZZ_CHECK(header.body_length - prefix <= link::kMaxDataPayload);
    } else {
        FUZZ_CHECK(header.body_length <= link::kMaxMessageBody);
    }
}

void check_data(const link::FrameHeader& header, std::string_view body) {
    std::array<unsigned char, link::kDataTagBytes> tag_bytes;
    std::memcpy(tag_bytes.data(), body.data(), tag_bytes.size());
    const std::uint64_t tag = link::decode_data_tag(tag_bytes);
    const auto encoded = link::encode_data_header(tag, header.body_length - link::kDataTagBytes);
    FUZZ_CHECK(
        std::memcmp(encoded.data() + link::kHeaderBytes, tag_bytes.data(), tag_bytes.size()) == 0);
    link::HeaderBytes again;
    std::memcpy(again.data(), encoded.data(), again.size());
    const auto decoded = link::decode_header(again);
    FUZZ_CHECK(decoded.type == link::FrameType::data && decoded.body_length == header.body_length);
}

void check_data_at(const link::FrameHeader& header, std::string_view body) {
    std::array<unsigned char, link::kDataAtPrefixBytes> prefix_bytes;
    std::memcpy(prefix_bytes.data(), body.data(), prefix_bytes.size());
    const auto prefix = link::decode_data_at_prefix(prefix_bytes);
    const auto encoded = link::encode_data_at_header(prefix.file_tag, prefix.offset,
                                                     header.body_length - link::kDataAtPrefixBytes);
    FUZZ_CHECK(std::memcmp(encoded.data() + link::kHeaderBytes, prefix_bytes.data(),
                           prefix_bytes.size()) == 0);
    link::HeaderBytes again;
    std::memcpy(again.data(), encoded.data(), again.size());
    const auto decoded = link::decode_header(again);
    FUZZ_CHECK(decoded.type == link::FrameType::data_at &&
               decoded.body_length == header.body_length);
}

void check_message(const link::FrameHeader& header, std::string_view body) {
    auto message = message_for(header.type);
    try {
        wire::decode_body(body, *message, link::frame_type_name(header.type));
    } catch (const wire::ProtocolError&) {
        return;
    }
    // What decodes encodes to a frame that decodes to the same message.
    const std::string frame = link::encode_message(header.type, *message);
    link::HeaderBytes bytes;
    std::memcpy(bytes.data(), frame.data(), bytes.size());
    const auto again = link::decode_header(bytes);
    FUZZ_CHECK(again.type == header.type);
    FUZZ_CHECK(again.body_length == frame.size() - link::kHeaderBytes);
    auto reparsed = message_for(header.type);
    FUZZ_CHECK(reparsed->ParseFromArray(frame.data() + link::kHeaderBytes,
                                        static_cast<int>(again.body_length)));
    FUZZ_CHECK(reparsed->SerializeAsString() == message->SerializeAsString());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view stream = imgfuzz::as_text(data, size);
    if (stream.size() < link::kPreamble.size()) return 0;
    std::array<char, link::kPreamble.size()> preamble;
    std::memcpy(preamble.data(), stream.data(), preamble.size());
    stream.remove_prefix(preamble.size());
    try {
        link::check_preamble(preamble);
    } catch (const wire::ProtocolError&) {
        FUZZ_CHECK(preamble != link::kPreamble);
        return 0;
    }
    FUZZ_CHECK(preamble == link::kPreamble);
    while (stream.size() >= link::kHeaderBytes) {
        link::HeaderBytes bytes;
        std::memcpy(bytes.data(), stream.data(), bytes.size());
        stream.remove_prefix(bytes.size());
        link::FrameHeader header;
        try {
            header = link::decode_header(bytes);
        } catch (const wire::ProtocolError&) {
            return 0;  // the connection is closed
        }
        check_header(bytes, header);
        if (stream.size() < header.body_length) return 0;
        const std::string_view body = stream.substr(0, header.body_length);
        stream.remove_prefix(header.body_length);
        if (header.type == link::FrameType::data)
            check_data(header, body);
        else if (header.type == link::FrameType::data_at)
            check_data_at(header, body);
        else if (header.type != link::FrameType::data_zstd)  // its decoding: chunk_compression
            check_message(header, body);
    }
    return 0;
}
