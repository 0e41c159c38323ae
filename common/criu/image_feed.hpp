// Writes one stored image file to CRIU: into the pipe it passed (G3, G4) or onto its socket (G2,
// G1).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "store/image_file.hpp"
#include "util/unique_fd.hpp"

namespace imgx::criu {

// Writes all of `file` into `pipe` (CRIU's write end) and closes it. CRIU closing its read end
// early (EPIPE) is a normal end. `context` names snapshot and peer for log lines. Both feeds
// return the bytes written (for the metrics).
boost::asio::awaitable<std::uint64_t> feed_pipe(UniqueFd pipe,
                                                std::shared_ptr<const store::ImageFile> file,
                                                std::string context);

// Writes all of `file` onto the connection and shuts down sending (end of image for CRIU).
boost::asio::awaitable<std::uint64_t> feed_socket(
    boost::asio::local::stream_protocol::socket& socket,
    std::shared_ptr<const store::ImageFile> file, std::string context);

}  // namespace imgx::criu
