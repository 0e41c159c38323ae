// CRIU's stream protocol (--stream) messages: what CRIU sends and what we answer. Pure functions.
#pragma once

#include <string>
#include <string_view>

namespace imgx::criu {

// Socket file names CRIU connects to inside its -D directory.
inline constexpr std::string_view kStreamCaptureSocket = "streamer-capture.sock";
inline constexpr std::string_view kStreamServeSocket = "streamer-serve.sock";

// The image a dump writes last, and only when it succeeds (a restore reads it first): a stream
// dump that ends without it was killed or failed.
inline constexpr std::string_view kInventoryImage = "inventory.img";

// The file name from an img_streamer_request_entry body. Throws wire::ProtocolError when the
// body is not a valid message or the name is not an acceptable image name.
std::string decode_stream_request(std::string_view body);

// A request frame as CRIU writes it (used by tests and tools that play CRIU).
std::string encode_stream_request(std::string_view filename);

// The full reply frame (length + body) for a restore request.
const std::string& stream_reply_frame(bool exists);

// Decodes a reply body (tests and tools that play CRIU).
bool decode_stream_reply(std::string_view body);

}  // namespace imgx::criu
