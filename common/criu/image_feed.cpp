// Stored file -> CRIU: the outgoing data path towards a restore (or a dump reading parents).
#include "criu/image_feed.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/sendfile.h>
#include <sys/uio.h>

#include <algorithm>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <vector>

#include "criu/fd_passing.hpp"

namespace imgx::criu {

namespace asio = boost::asio;

namespace {

// CRIU may keep a pagemap pipe unread while it asks for the pages file; a larger pipe lets us
// finish small files at once. Harmless if refused.
constexpr std::size_t kServePipeBytes = 1 << 20;
// The most one sendfile(2) call moves, so one large file does not hold the event loop long.
constexpr std::uint64_t kSendfileChunk = 4 << 20;

// Where a feed stands in a file: segment index and offset inside it.
struct Cursor {
    std::size_t segment = 0;
    std::size_t offset = 0;
};

// Up to kMaxIovecs pieces of `file` from `at`, covering at most `limit` bytes.
constexpr std::size_t kMaxIovecs = 64;
std::size_t gather(const store::ImageFile& file, Cursor at, std::uint64_t limit,
                   iovec (&out)[kMaxIovecs]) {
    std::size_t count = 0;
    for (std::size_t i = at.segment; i < file.segments.size() && count < kMaxIovecs && limit > 0;
         ++i) {
        const std::size_t skip = i == at.segment ? at.offset : 0;
        const std::size_t take = std::min<std::uint64_t>(file.segments[i].size - skip, limit);
        if (take == 0) continue;
        out[count++] = iovec{const_cast<char*>(file.segments[i].bytes.get()) + skip,
                             take};  // vmsplice only reads
        limit -= take;
    }
    return count;
}

void advance(const store::ImageFile& file, Cursor& at, std::size_t bytes) {
    while (bytes > 0 && at.segment < file.segments.size()) {
        const std::size_t step = std::min(bytes, file.segments[at.segment].size - at.offset);
        at.offset += step;
        bytes -= step;
        if (at.offset == file.segments[at.segment].size) {
            ++at.segment;
            at.offset = 0;
        }
    }
}

std::vector<asio::const_buffer> pieces_from(const store::ImageFile& file, Cursor at) {
    std::vector<asio::const_buffer> pieces;
    for (std::size_t i = at.segment; i < file.segments.size(); ++i) {
        const std::size_t skip = i == at.segment ? at.offset : 0;
        pieces.emplace_back(file.segments[i].bytes.get() + skip, file.segments[i].size - skip);
    }
    return pieces;
}

// Writes `file` from `at` to its end with plain writes; `done` bytes went before. Returns the
// bytes of the file delivered in all.
template <typename Stream>
asio::awaitable<std::uint64_t> write_rest(Stream& out, const store::ImageFile& file, Cursor at,
                                          std::uint64_t done, const std::string& context) {
    boost::system::error_code ec;
    const std::size_t written = co_await asio::async_write(
        out, pieces_from(file, at), asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::broken_pipe || ec == asio::error::connection_reset)
        spdlog::debug("{}: CRIU closed {} after {} of {} bytes", context, file.name, done + written,
                      file.size);
    else if (ec)
        spdlog::warn("{}: writing {} to CRIU failed after {} bytes: {}", context, file.name,
                     done + written, ec.message());
    co_return done + written;
}

// Lends the first `count` bytes of `file` to the pipe with vmsplice(): the pipe refers to our
// pages instead of a copy of them. Returns the bytes lent; fewer than `count` when CRIU closed
// its end (or vmsplice failed, logged).
asio::awaitable<std::uint64_t> lend_pages(asio::posix::stream_descriptor& pipe,
                                          const store::ImageFile& file, std::uint64_t count,
                                          Cursor& at, const std::string& context) {
    std::uint64_t lent = 0;
    iovec pieces[kMaxIovecs];
    while (lent < count) {
        const std::size_t n = gather(file, at, count - lent, pieces);
        const ssize_t got = ::vmsplice(pipe.native_handle(), pieces, n, SPLICE_F_NONBLOCK);
        if (got > 0) {
            advance(file, at, static_cast<std::size_t>(got));
            lent += static_cast<std::uint64_t>(got);
            continue;
        }
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && errno == EAGAIN) {
            boost::system::error_code ec;
            co_await pipe.async_wait(asio::posix::descriptor_base::wait_write,
                                     asio::redirect_error(asio::use_awaitable, ec));
            if (!ec) continue;
        }
        const int error = errno;
        if (error == EPIPE)
            spdlog::debug("{}: CRIU closed {} after {} of {} bytes", context, file.name, lent,
                          file.size);
        else
            spdlog::warn("{}: vmsplice of {} failed after {} bytes: {}", context, file.name, lent,
                         std::strerror(error));
        break;
    }
    co_return lent;
}

// Writes `size` bytes of `from` at `offset` to `out` with sendfile(2): the kernel copies from
// the page cache, nothing passes through our memory. `out` is non-blocking; a full pipe or
// socket buffer is waited for on the event loop.
template <typename Stream>
asio::awaitable<std::uint64_t> write_from_file(Stream& out, const store::BackingFile& from,
                                               std::uint64_t offset, std::uint64_t size,
                                               boost::system::error_code& ec) {
    std::uint64_t written = 0;
    while (written < size) {
        off_t at = static_cast<off_t>(offset + written);
        const ssize_t n = ::sendfile(
            out.native_handle(), from.fd.get(), &at,
            static_cast<std::size_t>(std::min<std::uint64_t>(size - written, kSendfileChunk)));
        if (n > 0) {
            written += static_cast<std::uint64_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            co_await out.async_wait(Stream::wait_write,
                                    asio::redirect_error(asio::use_awaitable, ec));
            if (ec) co_return written;
            continue;
        }
        // 0: the file is shorter than the stored piece (changed behind our back).
        ec = n == 0 ? boost::system::error_code(EIO, boost::system::system_category())
                    : boost::system::error_code(errno, boost::system::system_category());
        co_return written;
    }
    co_return written;
}

// Writes the in-memory pieces collected so far, if any, and forgets them.
template <typename Stream>
asio::awaitable<std::uint64_t> write_gathered(Stream& out, std::vector<asio::const_buffer>& pieces,
                                              boost::system::error_code& ec) {
    if (pieces.empty()) co_return 0;
    const std::size_t written =
        co_await asio::async_write(out, pieces, asio::redirect_error(asio::use_awaitable, ec));
    pieces.clear();
    co_return written;
}

// Writes the segments in order: runs of in-memory pieces in one gathered write, pieces on disk
// with write_from_file(). For files with pieces on disk (the memory budget, the state directory).
template <typename Stream>
asio::awaitable<std::uint64_t> write_segments(Stream& out, const store::ImageFile& file,
                                              boost::system::error_code& ec) {
    std::uint64_t written = 0;
    std::vector<asio::const_buffer> pieces;
    for (const auto& segment : file.segments) {
        if (segment.bytes) {
            pieces.emplace_back(segment.bytes.get(), segment.size);
            continue;
        }
        written += co_await write_gathered(out, pieces, ec);
        if (ec) co_return written;
        written +=
            co_await write_from_file(out, *segment.backing, segment.offset, segment.size, ec);
        if (ec) co_return written;
    }
    written += co_await write_gathered(out, pieces, ec);
    co_return written;
}

template <typename Stream>
asio::awaitable<std::uint64_t> write_with_disk_pieces(Stream& out, const store::ImageFile& file,
                                                      const std::string& context) {
    boost::system::error_code ec;
    const std::uint64_t written = co_await write_segments(out, file, ec);
    if (ec == asio::error::broken_pipe || ec == asio::error::connection_reset)
        spdlog::debug("{}: CRIU closed {} after {} of {} bytes", context, file.name, written,
                      file.size);
    else if (ec)
        spdlog::warn("{}: writing {} to CRIU failed after {} bytes: {}", context, file.name,
                     written, ec.message());
    co_return written;
}

bool has_disk_pieces(const store::ImageFile& file) {
    return std::any_of(file.segments.begin(), file.segments.end(),
                       [](const auto& s) { return !s.bytes; });
}

}  // namespace

// Stored bytes never change, so a pipe may refer to them instead of a copy (vmsplice). But the
// memory is reused once the snapshot is dropped or replaced, so no lent page may still sit in
// the pipe when the feed ends and releases the file. Hence the last pipe-full of each file is
// written as a copy: that write completes only once the whole copy is inside the pipe, and a
// pipe holding a full pipe of copied bytes holds nothing that came before them.
asio::awaitable<std::uint64_t> feed_pipe(UniqueFd fd, std::shared_ptr<const store::ImageFile> file,
                                         std::string context) {
    const std::size_t pipe_bytes = enlarge_pipe(fd.get(), kServePipeBytes);
    asio::posix::stream_descriptor pipe(co_await asio::this_coro::executor, fd.release());
    pipe.non_blocking(true);
    if (has_disk_pieces(*file)) {
        // Pieces on disk go through sendfile (the kernel copies from the page cache): nothing is
        // lent.
        const std::uint64_t written = co_await write_with_disk_pieces(pipe, *file, context);
        co_return written;
    }
    std::uint64_t to_lend = 0;
    if (pipe_bytes > 0 && file->size > pipe_bytes) to_lend = file->size - pipe_bytes;
    Cursor at;
    const std::uint64_t lent = co_await lend_pages(pipe, *file, to_lend, at, context);
    if (lent < to_lend) co_return lent;
    const std::uint64_t written = co_await write_rest(pipe, *file, at, lent, context);
    co_return written;
}

asio::awaitable<std::uint64_t> feed_socket(asio::local::stream_protocol::socket& socket,
                                           std::shared_ptr<const store::ImageFile> file,
                                           std::string context) {
    std::uint64_t written = 0;
    if (has_disk_pieces(*file))
        written = co_await write_with_disk_pieces(socket, *file, context);
    else
        written = co_await write_rest(socket, *file, Cursor{}, 0, context);
    boost::system::error_code ignored;
    socket.shutdown(asio::socket_base::shutdown_send, ignored);
    co_return written;
}

}  // namespace imgx::criu
