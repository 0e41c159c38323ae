// CRIU stream protocol (G4) codec against the byte examples of criu-protocols.md section 2.3.
#include "criu/stream_codec.hpp"

#include <catch2/catch.hpp>

#include "support/trace_manifest.hpp"
#include "util/names.hpp"
#include "wire/frame.hpp"

using namespace imgx;
using imgtest::hex_decode;
using imgtest::hex_encode;

namespace {

std::string body_of(const std::string& frame) { return frame.substr(wire::kLengthBytes); }

// A request body carrying `name` as field 1, encoded by hand (so invalid names can be sent).
std::string raw_request_body(const std::string& name) {
    std::string body = "\x0a";
    std::size_t n = name.size();
    do {  // varint length
        unsigned char byte = n & 0x7f;
        n >>= 7;
        if (n) byte |= 0x80;
        body += static_cast<char>(byte);
    } while (n);
    return body + name;
}

}  // namespace

TEST_CASE("the G4 request for inventory.img encodes to the bytes CRIU sends") {
    CHECK(hex_encode(criu::encode_stream_request("inventory.img")) ==
          "0f0000000a0d696e76656e746f72792e696d67");
}

TEST_CASE("the G4 request bytes CRIU sends decode to the file name") {
    const auto frame = hex_decode("0f 00 00 00 0a 0d 69 6e 76 65 6e 74 6f 72 79 2e 69 6d 67");
    unsigned char length[wire::kLengthBytes];
    std::copy_n(frame.begin(), wire::kLengthBytes, length);
    REQUIRE(wire::decode_length(length) == frame.size() - wire::kLengthBytes);
    CHECK(criu::decode_stream_request(body_of(frame)) == "inventory.img");
}

TEST_CASE("the G4 replies encode to exactly 02 00 00 00 08 01 and 02 00 00 00 08 00") {
    CHECK(hex_encode(criu::stream_reply_frame(true)) == "020000000801");
    CHECK(hex_encode(criu::stream_reply_frame(false)) == "020000000800");
}

TEST_CASE("the G4 reply bodies decode to exists true and false") {
    CHECK(criu::decode_stream_reply(hex_decode("0801")) == true);
    CHECK(criu::decode_stream_reply(hex_decode("0800")) == false);
}

TEST_CASE("a reply body without the required exists field is rejected") {
    CHECK_THROWS_AS(criu::decode_stream_reply(""), wire::ProtocolError);
}

TEST_CASE("socket names are the ones CRIU connects to") {
    CHECK(criu::kStreamCaptureSocket == "streamer-capture.sock");
    CHECK(criu::kStreamServeSocket == "streamer-serve.sock");
}

TEST_CASE("request names CRIU uses round-trip through the codec") {
    for (const char* name :
         {"inventory.img", "core-28392.img", "pages-1.img", "tmpfs-dev-42.tar.gz.img",
          "ghost-file-1a2b.img", "pagemap-shmem-123.img", "amdgpu-kfd-1.img"}) {
        CAPTURE(name);
        CHECK(criu::decode_stream_request(body_of(criu::encode_stream_request(name))) == name);
    }
}

TEST_CASE("a request name of exactly 255 bytes is accepted") {
    const std::string name(kMaxImageNameBytes, 'a');
    CHECK(criu::decode_stream_request(raw_request_body(name)) == name);
}

TEST_CASE("a request whose body is not a valid message is rejected") {
    CHECK_THROWS_AS(criu::decode_stream_request(""),
                    wire::ProtocolError);  // required field missing
    CHECK_THROWS_AS(criu::decode_stream_request(hex_decode("ffffffffff")), wire::ProtocolError);
    CHECK_THROWS_AS(criu::decode_stream_request(hex_decode("0a0d696e76")),
                    wire::ProtocolError);  // truncated
    CHECK_THROWS_AS(criu::decode_stream_request(hex_decode("0801")),
                    wire::ProtocolError);  // a reply, not a request
}

TEST_CASE("a request naming a path, a dot entry, nothing or control characters is rejected") {
    const std::string bad_names[] = {
        "a/b",
        "../x",
        "..",
        ".",
        "",
        "/etc/passwd",
        "x/",
        std::string("in\0v", 4),
        "line\nbreak",
        std::string("tab\tname"),
        std::string("del\x7f"),
        std::string(kMaxImageNameBytes + 1, 'a'),
    };
    for (const auto& name : bad_names) {
        CAPTURE(hex_encode(name));
        CHECK_THROWS_AS(criu::decode_stream_request(raw_request_body(name)), wire::ProtocolError);
    }
}

TEST_CASE("names that merely contain dots are ordinary image names") {
    for (const char* name : {"...", "..x", "x..", ".hidden", "a.b.c"}) {
        CAPTURE(name);
        CHECK(criu::decode_stream_request(raw_request_body(name)) == name);
    }
}
