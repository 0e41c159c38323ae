// Exact-length frame I/O on a CRIU UNIX connection (never reads past the frame).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <optional>
#include <string>

#include "wire/frame.hpp"

namespace imgx::criu {

// Reads one frame body. Returns nothing on a clean EOF before the first length byte; throws
// wire::ProtocolError on EOF inside a frame or a length above `max_body`.
boost::asio::awaitable<std::optional<std::string>> read_frame(
    boost::asio::local::stream_protocol::socket& socket,
    std::uint32_t max_body = wire::kMaxFrameBody);

// Writes an already encoded frame in one call, as CRIU 3.15 needs (it does not loop on reads).
boost::asio::awaitable<void> write_frame(boost::asio::local::stream_protocol::socket& socket,
                                         const std::string& frame);

}  // namespace imgx::criu
