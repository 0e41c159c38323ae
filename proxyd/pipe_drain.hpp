// Moves one image file from CRIU (its pipe, or the socket itself in G2), chunk by chunk, onto the
// link.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "link_client.hpp"
#include "store/image_file.hpp"
#include "util/buffer_pool.hpp"

namespace imgx::proxyd {

using KeepChunk = std::function<bool(const char* data, std::size_t size)>;

// Reads `source` to EOF, sending FILE_BEGIN, DATA chunks and FILE_END (size + XXH3-64).
// `first_bytes` were already read from the source (G2 detection) and come first. When `keep` is
// given, every chunk is also handed to it (img-remote chains keep images for parent reads); it
// returns false to stop the transfer (memory budget exhausted).
// Stops early (without FILE_END) if the snapshot fails or the source is closed under it.
// Returns the file's size, or nothing if it did not reach EOF.
template <typename Source>
boost::asio::awaitable<std::optional<std::uint64_t>> drain_to_link(
    Source& source, const std::string& name, const std::shared_ptr<OutgoingSnapshot>& snapshot,
    LinkClient& link, BufferPool& pool, std::string_view first_bytes = {},
    const KeepChunk& keep = {});

extern template boost::asio::awaitable<std::optional<std::uint64_t>> drain_to_link(
    boost::asio::posix::stream_descriptor&, const std::string&,
    const std::shared_ptr<OutgoingSnapshot>&, LinkClient&, BufferPool&, std::string_view,
    const KeepChunk&);
extern template boost::asio::awaitable<std::optional<std::uint64_t>> drain_to_link(
    boost::asio::local::stream_protocol::socket&, const std::string&,
    const std::shared_ptr<OutgoingSnapshot>&, LinkClient&, BufferPool&, std::string_view,
    const KeepChunk&);

}  // namespace imgx::proxyd
