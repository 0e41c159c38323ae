// CRIU record framing: length prefix decoding, the size limit, encoding and body parsing.
#include <catch2/catch.hpp>
#include <cstring>

#include "criu_stream.pb.h"
#include "wire/frame.hpp"

using namespace imgx;

TEST_CASE("the length prefix is read in host byte order (little-endian here)") {
    const unsigned char bytes[wire::kLengthBytes] = {0x0f, 0x00, 0x00, 0x00};
    CHECK(wire::decode_length(bytes) == 15);
    const unsigned char big[wire::kLengthBytes] = {0x01, 0x02, 0x03, 0x04};
    CHECK(wire::decode_length(big) == 0x04030201u);
}

TEST_CASE("a frame length up to the limit is accepted, one byte more is a protocol error") {
    CHECK_NOTHROW(wire::check_length(0));
    CHECK_NOTHROW(wire::check_length(wire::kMaxFrameBody));
    CHECK_THROWS_AS(wire::check_length(wire::kMaxFrameBody + 1), wire::ProtocolError);
    CHECK_THROWS_AS(wire::check_length(0xffffffffu), wire::ProtocolError);
    CHECK_NOTHROW(wire::check_length(100, 100));
    CHECK_THROWS_AS(wire::check_length(101, 100), wire::ProtocolError);
}

TEST_CASE("an encoded frame is the 4-byte body length followed by the serialized message") {
    img_streamer_request_entry request;
    request.set_filename("inventory.img");
    const std::string frame = wire::encode_frame(request);
    REQUIRE(frame.size() == wire::kLengthBytes + request.ByteSizeLong());
    unsigned char length[wire::kLengthBytes];
    std::memcpy(length, frame.data(), sizeof length);
    CHECK(wire::decode_length(length) == request.ByteSizeLong());
    CHECK(frame.substr(wire::kLengthBytes) == request.SerializeAsString());
}

TEST_CASE("a required field set to its zero value is still encoded, as CRIU requires") {
    img_streamer_reply_entry reply;
    reply.set_exists(false);
    CHECK(wire::encode_frame(reply) == std::string("\x02\x00\x00\x00\x08\x00", 6));
}

TEST_CASE("decoding a body round-trips an encoded message") {
    img_streamer_request_entry request;
    request.set_filename("pages-1.img");
    const std::string frame = wire::encode_frame(request);
    img_streamer_request_entry decoded;
    wire::decode_body(std::string_view(frame).substr(wire::kLengthBytes), decoded, "test");
    CHECK(decoded.filename() == "pages-1.img");
}

TEST_CASE("a body that is not a complete message is a protocol error") {
    img_streamer_request_entry out;
    SECTION("missing required field") {
        CHECK_THROWS_AS(wire::decode_body("", out, "stream request"), wire::ProtocolError);
    }
    SECTION("truncated string") {
        CHECK_THROWS_AS(wire::decode_body(std::string("\x0a\x0d"
                                                      "invent",
                                                      8),
                                          out, "stream request"),
                        wire::ProtocolError);
    }
    SECTION("invalid wire type bytes") {
        CHECK_THROWS_AS(
            wire::decode_body(std::string("\xff\xff\xff\xff\xff", 5), out, "stream request"),
            wire::ProtocolError);
    }
    SECTION("the error message names what was being decoded") {
        try {
            wire::decode_body("", out, "stream request");
            FAIL("no exception");
        } catch (const wire::ProtocolError& e) {
            CHECK_THAT(e.what(), Catch::Contains("stream request"));
        }
    }
}
