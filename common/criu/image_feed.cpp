// Stored file -> CRIU: the outgoing data path towards a restore (or a dump reading parents).
#include "criu/image_feed.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/uio.h>

#include <algorithm>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <vector>

#include "criu/fd_passing.hpp"
#include "criu/pipe_sizes.hpp"

namespace imgx::criu {

namespace asio = boost::asio;

namespace {

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

// A file this small fits a pipe as CRIU creates it (16 pages): one write, no event loop.
constexpr std::uint64_t kOneWriteFeedBytes = 64 << 10;

// Writes what fits of `file` (in memory, at most kOneWriteFeedBytes) into the pipe `fd` without
// blocking; returns the bytes written (0 if the pipe was full), or nothing for an error (errno).
std::optional<std::uint64_t> write_at_once(int fd, const store::ImageFile& file) {
    if (::fcntl(fd, F_SETFL, O_NONBLOCK) != 0) return std::nullopt;
    iovec pieces[kMaxIovecs];
    const std::size_t n = gather(file, Cursor{}, file.size, pieces);
    if (n == 0) return 0;
    for (;;) {
        const ssize_t got = ::writev(fd, pieces, static_cast<int>(n));
        if (got >= 0) return static_cast<std::uint64_t>(got);
        if (errno == EAGAIN) return 0;
        if (errno != EINTR) return std::nullopt;
    }
}

// A write to CRIU's pipe failed with `error` after `done` bytes of `file`: CRIU closed it (a
// debug line), or something else went wrong (a warning).
void log_closed_early(int error, const store::ImageFile& file, std::uint64_t done,
                      const std::string& context) {
    if (error == EPIPE)
        spdlog::debug("{}: CRIU closed {} after {} of {} bytes", context, file.name, done,
                      file.size);
    else
        spdlog::warn("{}: writing {} to CRIU failed after {} bytes: {}", context, file.name, done,
                     std::strerror(error));
}

// The pipe's size now; 0 if it cannot be read.
std::uint64_t pipe_size(int fd) {
    const int size = ::fcntl(fd, F_GETPIPE_SZ);
    return size > 0 ? static_cast<std::uint64_t>(size) : 0;
}

// Lends `file` from `at` with vmsplice() while more than a pipe-full of it is left: the pipe
// refers to our pages instead of a copy of them. CRIU may enlarge its pipe at any time
// (F_SETPIPE_SZ), so the size is read again before each step: what is left for the copied tail
// is then at least the pipe's size as it was when lending stopped. Adds what it lent to `lent`;
// false when CRIU closed its end (or vmsplice failed, logged).
asio::awaitable<bool> lend_pages(asio::posix::stream_descriptor& pipe, const store::ImageFile& file,
                                 Cursor& at, std::uint64_t& lent, const std::string& context) {
    iovec pieces[kMaxIovecs];
    for (;;) {
        const std::uint64_t size = pipe_size(pipe.native_handle());
        if (size == 0 || file.size - lent <= size) co_return true;
        const std::size_t n = gather(file, at, file.size - lent - size, pieces);
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
        log_closed_early(errno, file, lent, context);
        co_return false;
    }
}

// How often a feed looks whether CRIU has read the lent pages still in its pipe.
constexpr auto kLentReadPoll = std::chrono::milliseconds(2);

// Waits until no lent page is left unread in the pipe: until every unread byte is one of the
// `copied` bytes written last (the pipe is in order), or CRIU closed its end. Only a pipe that
// CRIU enlarged after lending stopped holds lent pages here; otherwise this returns at once.
asio::awaitable<void> wait_lent_pages_read(asio::posix::stream_descriptor& pipe,
                                           std::uint64_t copied) {
    for (;;) {
        int unread = 0;
        if (::ioctl(pipe.native_handle(), FIONREAD, &unread) != 0 ||
            static_cast<std::uint64_t>(unread) <= copied)
            co_return;
        pollfd state{pipe.native_handle(), 0, 0};
        if (::poll(&state, 1, 0) > 0 && (state.revents & (POLLERR | POLLHUP))) co_return;
        // bounded poll: a pipe signals no event when its reader takes bytes out of a pipe that
        // is not full.
        asio::steady_timer timer(pipe.get_executor(), kLentReadPoll);
        boost::system::error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
    }
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
// pipe holding a full pipe of copied bytes holds nothing that came before them. CRIU may enlarge
// its pipe meanwhile: lend_pages() reads the size before each step, and if the pipe grew after
// lending stopped, the feed waits until the lent pages in front of the copy are read.
asio::awaitable<std::uint64_t> feed_pipe(UniqueFd fd, std::shared_ptr<const store::ImageFile> file,
                                         std::string context) {
    Cursor at;
    std::uint64_t copied = 0;
    if (file->size <= kOneWriteFeedBytes && !has_disk_pieces(*file)) {
        const auto first = write_at_once(fd.get(), *file);
        if (!first) {
            log_closed_early(errno, *file, 0, context);
            co_return 0;
        }
        if (*first == file->size) co_return *first;
        copied = *first;  // a pipe smaller than usual (pipe-user-pages-soft): the rest below
        advance(*file, at, *first);
    }
    const std::size_t pipe_bytes = enlarge_pipe(fd.get(), kServePipeBytes);
    asio::posix::stream_descriptor pipe(co_await asio::this_coro::executor, fd.release());
    pipe.non_blocking(true);
    if (copied > 0) {
        const std::uint64_t written = co_await write_rest(pipe, *file, at, copied, context);
        co_return written;
    }
    if (has_disk_pieces(*file)) {
        // Pieces on disk go through sendfile (the kernel copies from the page cache): nothing is
        // lent.
        const std::uint64_t written = co_await write_with_disk_pieces(pipe, *file, context);
        co_return written;
    }
    std::uint64_t lent = 0;
    bool reader_open = true;  // a pipe of unknown size gets a copy only
    if (pipe_bytes > 0) reader_open = co_await lend_pages(pipe, *file, at, lent, context);
    if (!reader_open) co_return lent;
    const std::uint64_t written = co_await write_rest(pipe, *file, at, lent, context);
    if (lent > 0 && written == file->size) co_await wait_lent_pages_read(pipe, file->size - lent);
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
