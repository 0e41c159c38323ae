// Stored file -> CRIU: the outgoing data path towards a restore (or a dump reading parents).
#include "criu/image_feed.hpp"

#include "criu/fd_passing.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include <vector>

namespace imgx::criu {

namespace asio = boost::asio;

namespace {

// CRIU may keep a pagemap pipe unread while it asks for the pages file; a larger pipe lets us
// finish small files at once. Harmless if refused.
constexpr std::size_t kServePipeBytes = 1 << 20;

std::vector<asio::const_buffer> pieces_of(const store::ImageFile& file) {
    std::vector<asio::const_buffer> pieces;
    pieces.reserve(file.segments.size());
    for (const auto& segment : file.segments) pieces.emplace_back(segment.bytes.get(), segment.size);
    return pieces;
}

template <typename Stream>
asio::awaitable<std::uint64_t> write_file(Stream& out, const store::ImageFile& file, const std::string& context) {
    boost::system::error_code ec;
    std::size_t written =
        co_await asio::async_write(out, pieces_of(file), asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::broken_pipe || ec == asio::error::connection_reset)
        spdlog::debug("{}: CRIU closed {} after {} of {} bytes", context, file.name, written, file.size);
    else if (ec)
        spdlog::warn("{}: writing {} to CRIU failed after {} bytes: {}", context, file.name, written, ec.message());
    co_return written;
}

}  // namespace

asio::awaitable<std::uint64_t> feed_pipe(UniqueFd fd, std::shared_ptr<const store::ImageFile> file, std::string context) {
    enlarge_pipe(fd.get(), kServePipeBytes);
    asio::posix::stream_descriptor pipe(co_await asio::this_coro::executor, fd.release());
    pipe.non_blocking(true);
    const std::uint64_t written = co_await write_file(pipe, *file, context);
    co_return written;
}

asio::awaitable<std::uint64_t> feed_socket(asio::local::stream_protocol::socket& socket,
                                  std::shared_ptr<const store::ImageFile> file, std::string context) {
    const std::uint64_t written = co_await write_file(socket, *file, context);
    boost::system::error_code ignored;
    socket.shutdown(asio::socket_base::shutdown_send, ignored);
    co_return written;
}

}  // namespace imgx::criu
