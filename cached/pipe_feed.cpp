// Stored file -> CRIU's pipe: the cache's outgoing data path.
#include "pipe_feed.hpp"

#include "criu/fd_passing.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include <vector>

namespace imgx::cached {

namespace asio = boost::asio;

namespace {
// CRIU may keep a pagemap pipe unread while it asks for the pages file; a larger pipe lets us
// finish small files at once. Harmless if refused.
constexpr std::size_t kServePipeBytes = 1 << 20;
}  // namespace

asio::awaitable<void> feed_pipe(UniqueFd fd, std::shared_ptr<const store::ImageFile> file, std::string context) {
    criu::enlarge_pipe(fd.get(), kServePipeBytes);
    asio::posix::stream_descriptor pipe(co_await asio::this_coro::executor, fd.release());
    pipe.non_blocking(true);
    std::vector<asio::const_buffer> pieces;
    pieces.reserve(file->segments.size());
    for (const auto& segment : file->segments) pieces.emplace_back(segment.bytes.get(), segment.size);
    boost::system::error_code ec;
    std::size_t written = co_await asio::async_write(pipe, pieces, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::broken_pipe)
        spdlog::debug("{}: CRIU closed {} after {} of {} bytes", context, file->name, written, file->size);
    else if (ec)
        spdlog::warn("{}: writing {} to CRIU failed after {} bytes: {}", context, file->name, written, ec.message());
}

}  // namespace imgx::cached
