// CRIU record framing.
#include "wire/frame.hpp"

#include <cstring>

namespace imgx::wire {

std::uint32_t decode_length(const unsigned char (&bytes)[kLengthBytes]) {
    std::uint32_t length;
    std::memcpy(&length, bytes, sizeof length);
    return length;
}

void check_length(std::uint32_t length, std::uint32_t max_body) {
    if (length > max_body)
        throw ProtocolError("frame of " + std::to_string(length) + " bytes exceeds the limit of " +
                            std::to_string(max_body));
}

std::string encode_frame(const google::protobuf::MessageLite& message) {
    const auto body = static_cast<std::uint32_t>(message.ByteSizeLong());
    std::string out(kLengthBytes + body, '\0');
    std::memcpy(out.data(), &body, kLengthBytes);
    message.SerializeWithCachedSizesToArray(
        reinterpret_cast<std::uint8_t*>(out.data() + kLengthBytes));
    return out;
}

void decode_body(std::string_view body, google::protobuf::MessageLite& out, std::string_view what) {
    if (!out.ParseFromArray(body.data(), static_cast<int>(body.size())))
        throw ProtocolError("malformed " + std::string(what) + " frame (" +
                            std::to_string(body.size()) + " bytes)");
}

}  // namespace imgx::wire
