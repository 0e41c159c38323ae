// Moves one image file from the pipe CRIU writes into, chunk by chunk, onto the link.
#pragma once

#include "link_client.hpp"
#include "util/buffer_pool.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <memory>
#include <optional>
#include <string>

namespace imgx::proxyd {

// Reads `pipe` to EOF, sending FILE_BEGIN, DATA chunks and FILE_END (size + XXH3-64).
// Stops early (without FILE_END) if the snapshot fails or the pipe is closed under it.
// Returns the file's size, or nothing if it did not reach EOF.
boost::asio::awaitable<std::optional<std::uint64_t>> drain_pipe(boost::asio::posix::stream_descriptor& pipe,
                                                 const std::string& name,
                                                 const std::shared_ptr<OutgoingSnapshot>& snapshot,
                                                 LinkClient& link, BufferPool& pool);

}  // namespace imgx::proxyd
