// Fuzz target: CRIU --stream connections (img_streamer_request_entry / _reply_entry frames).
#include "criu/stream_codec.hpp"
#include "fuzz_check.hpp"
#include "util/names.hpp"

using namespace imgx;

namespace {

void check_request(std::string_view body) {
    std::string name;
    try {
        name = criu::decode_stream_request(body);
    } catch (const wire::ProtocolError&) {
        return;
    }
    // An accepted name is used as a key and in paths: it must be a plain file name.
    FUZZ_CHECK(!image_name_problem(name));
    FUZZ_CHECK(!name.empty() && name.size() <= kMaxImageNameBytes);
    FUZZ_CHECK(name.find('/') == std::string::npos);
    FUZZ_CHECK(name != "." && name != "..");
    FUZZ_CHECK(name.find('\0') == std::string::npos);
    const std::string frame = criu::encode_stream_request(name);
    FUZZ_CHECK(imgfuzz::length_prefix(frame) == frame.size() - wire::kLengthBytes);
    FUZZ_CHECK(criu::decode_stream_request(std::string_view(frame).substr(wire::kLengthBytes)) ==
               name);
}

void check_reply(std::string_view body) {
    bool exists = false;
    try {
        exists = criu::decode_stream_reply(body);
    } catch (const wire::ProtocolError&) {
        return;
    }
    const std::string& frame = criu::stream_reply_frame(exists);
    FUZZ_CHECK(criu::decode_stream_reply(std::string_view(frame).substr(wire::kLengthBytes)) ==
               exists);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        imgfuzz::for_each_frame(imgfuzz::as_text(data, size), [](std::string_view body) {
            check_request(body);
            check_reply(body);
        });
    } catch (const wire::ProtocolError&) {
        // A length above the limit: the daemon closes the connection.
    }
    return 0;
}
