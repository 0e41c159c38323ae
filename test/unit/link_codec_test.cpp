// The proxy <-> cache link framing: headers, preamble, messages and DATA headers.
#include "link/link_codec.hpp"

#include <catch2/catch.hpp>
#include <cstring>

#include "link.pb.h"

using namespace imgx;
using namespace imgx::link;

namespace {

HeaderBytes header_from(const std::string& bytes) {
    HeaderBytes out{};
    std::memcpy(out.data(), bytes.data(), kHeaderBytes);
    return out;
}

}  // namespace

TEST_CASE("a frame header round-trips every frame type") {
    for (auto type :
         {FrameType::hello, FrameType::snapshot_begin, FrameType::file_begin, FrameType::file_end,
          FrameType::snapshot_end, FrameType::snapshot_abort, FrameType::file_ack,
          FrameType::snapshot_result, FrameType::ack, FrameType::data_at}) {
        CAPTURE(frame_type_name(type));
        auto decoded = decode_header(encode_header(type, 123));
        CHECK(decoded.type == type);
        CHECK(decoded.body_length == 123);
    }
}

TEST_CASE("a frame header is a little-endian length, the type byte and three zero bytes") {
    auto bytes = encode_header(FrameType::file_end, 0x01020304);
    CHECK(bytes == HeaderBytes{0x04, 0x03, 0x02, 0x01, 5, 0, 0, 0});
}

TEST_CASE("unknown frame types are rejected") {
    for (unsigned char type : {0, 12, 0x7f, 0xff}) {
        CAPTURE(int(type));
        HeaderBytes bytes{0, 0, 0, 0, type, 0, 0, 0};
        CHECK_THROWS_AS(decode_header(bytes), wire::ProtocolError);
    }
}

TEST_CASE("non-zero reserved header bytes are rejected") {
    for (int i = 5; i < 8; ++i) {
        CAPTURE(i);
        auto bytes = encode_header(FrameType::hello, 4);
        bytes[i] = 1;
        CHECK_THROWS_AS(decode_header(bytes), wire::ProtocolError);
    }
}

TEST_CASE("message frames larger than the message limit are rejected") {
    CHECK_NOTHROW(decode_header(encode_header(FrameType::file_begin, kMaxMessageBody)));
    CHECK_THROWS_AS(decode_header(encode_header(FrameType::file_begin, kMaxMessageBody + 1)),
                    wire::ProtocolError);
    CHECK_THROWS_AS(decode_header(encode_header(FrameType::hello, 0xffffffffu)),
                    wire::ProtocolError);
}

TEST_CASE("DATA frames must hold a file tag and at most the payload limit") {
    CHECK_NOTHROW(decode_header(encode_header(FrameType::data, kDataTagBytes)));  // empty payload
    CHECK_NOTHROW(decode_header(encode_header(FrameType::data, kDataTagBytes + kMaxDataPayload)));
    CHECK_THROWS_AS(decode_header(encode_header(FrameType::data, kDataTagBytes - 1)),
                    wire::ProtocolError);
    CHECK_THROWS_AS(decode_header(encode_header(FrameType::data, 0)), wire::ProtocolError);
    CHECK_THROWS_AS(
        decode_header(encode_header(FrameType::data, kDataTagBytes + kMaxDataPayload + 1)),
        wire::ProtocolError);
    CHECK_THROWS_AS(decode_header(encode_header(FrameType::data, 0xffffffffu)),
                    wire::ProtocolError);
}

TEST_CASE("a DATA header carries the payload length plus the tag and the tag itself") {
    const std::uint64_t tag = 0x1122334455667788ULL;
    auto bytes = encode_data_header(tag, 4096);
    HeaderBytes header{};
    std::memcpy(header.data(), bytes.data(), kHeaderBytes);
    auto decoded = decode_header(header);
    CHECK(decoded.type == FrameType::data);
    CHECK(decoded.body_length == 4096 + kDataTagBytes);
    std::array<unsigned char, kDataTagBytes> tag_bytes{};
    std::memcpy(tag_bytes.data(), bytes.data() + kHeaderBytes, kDataTagBytes);
    CHECK(decode_data_tag(tag_bytes) == tag);
    CHECK(tag_bytes[0] == 0x88);  // little-endian
}

TEST_CASE("a DATA_AT header round-trips the file tag, the offset and the payload length") {
    const std::uint64_t tag = 0x1122334455667788ULL;
    const std::uint64_t offset = 0x0102030405060708ULL;
    auto bytes = encode_data_at_header(tag, offset, 1 << 20);
    HeaderBytes header{};
    std::memcpy(header.data(), bytes.data(), kHeaderBytes);
    auto decoded = decode_header(header);
    CHECK(decoded.type == FrameType::data_at);
    CHECK(decoded.body_length == (1u << 20) + kDataAtPrefixBytes);
    CHECK(is_data(decoded.type));
    CHECK(data_prefix_bytes(decoded.type) == kDataAtPrefixBytes);
    std::array<unsigned char, kDataAtPrefixBytes> prefix{};
    std::memcpy(prefix.data(), bytes.data() + kHeaderBytes, kDataAtPrefixBytes);
    auto at = decode_data_at_prefix(prefix);
    CHECK(at.file_tag == tag);
    CHECK(at.offset == offset);
    CHECK(prefix[0] == 0x88);  // little-endian
    CHECK(prefix[8] == 0x08);
    CHECK(bytes[4] == 11);
}

TEST_CASE("DATA_AT frames must hold a tag and an offset and at most the payload limit") {
    CHECK_NOTHROW(decode_header(encode_header(FrameType::data_at, kDataAtPrefixBytes)));
    CHECK_NOTHROW(
        decode_header(encode_header(FrameType::data_at, kDataAtPrefixBytes + kMaxDataPayload)));
    CHECK_THROWS_AS(decode_header(encode_header(FrameType::data_at, kDataAtPrefixBytes - 1)),
                    wire::ProtocolError);
    CHECK_THROWS_AS(
        decode_header(encode_header(FrameType::data_at, kDataAtPrefixBytes + kMaxDataPayload + 1)),
        wire::ProtocolError);
    CHECK_FALSE(is_data(FrameType::file_end));
    CHECK(frame_type_name(FrameType::data_at) == "DATA_AT");
}

TEST_CASE("the preamble is accepted as sent, and wrong magic or version is rejected") {
    CHECK_NOTHROW(check_preamble(kPreamble));
    auto wrong_magic = kPreamble;
    wrong_magic[0] = 'X';
    CHECK_THROWS_AS(check_preamble(wrong_magic), wire::ProtocolError);
    auto wrong_version = kPreamble;
    wrong_version[7] = char(kVersion + 1);
    try {
        check_preamble(wrong_version);
        FAIL("accepted a wrong version");
    } catch (const wire::ProtocolError& e) {
        CHECK_THAT(e.what(), Catch::Contains("version"));
    }
    std::array<char, 8> http = {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T'};
    CHECK_THROWS_AS(check_preamble(http), wire::ProtocolError);
}

TEST_CASE("a version 1 peer (no resume) is refused with both versions named") {
    auto old = kPreamble;
    old[7] = char(1);
    try {
        check_preamble(old);
        FAIL("accepted version 1");
    } catch (const wire::ProtocolError& e) {
        CHECK_THAT(e.what(), Catch::Contains("version 1, we speak 2"));
    }
}

TEST_CASE("every frame but HELLO and ACK is numbered for resending") {
    CHECK_FALSE(is_numbered(FrameType::hello));
    CHECK_FALSE(is_numbered(FrameType::ack));
    for (auto type : {FrameType::snapshot_begin, FrameType::file_begin, FrameType::data,
                      FrameType::file_end, FrameType::snapshot_end, FrameType::snapshot_abort,
                      FrameType::file_ack, FrameType::snapshot_result, FrameType::data_at})
        CHECK(is_numbered(type));
}

TEST_CASE("an encoded message is a header followed by the protobuf body") {
    link::FileBegin begin;
    begin.set_file_tag(7);
    begin.set_snapshot_tag(3);
    begin.set_name("pages-1.img");
    const auto frame = encode_message(FrameType::file_begin, begin);
    auto header = decode_header(header_from(frame));
    CHECK(header.type == FrameType::file_begin);
    REQUIRE(header.body_length == frame.size() - kHeaderBytes);
    link::FileBegin decoded;
    wire::decode_body(std::string_view(frame).substr(kHeaderBytes), decoded, "FILE_BEGIN");
    CHECK(decoded.file_tag() == 7);
    CHECK(decoded.snapshot_tag() == 3);
    CHECK(decoded.name() == "pages-1.img");
}

TEST_CASE("an empty proto3 message encodes to a bare header") {
    link::SnapshotEnd end;
    const auto frame = encode_message(FrameType::snapshot_end, end);
    CHECK(frame.size() == kHeaderBytes);
    CHECK(decode_header(header_from(frame)).body_length == 0);
}

TEST_CASE("frame types have readable names for logs") {
    CHECK(frame_type_name(FrameType::data) == "DATA");
    CHECK(frame_type_name(FrameType::snapshot_abort) == "SNAPSHOT_ABORT");
    CHECK(frame_type_name(static_cast<FrameType>(200)) == "UNKNOWN");
}
