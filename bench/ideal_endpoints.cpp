// The ideal capture sink and restore feeder: one poll() loop over CRIU's socket and pipes.
#include "ideal_endpoints.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <vector>

#include "criu/fd_passing.hpp"
#include "criu/pipe_sizes.hpp"
#include "criu/stream_codec.hpp"
#include "wire/frame.hpp"

namespace imgx::bench {

namespace {

// Nothing moving for this long is a stall (the players use the same).
constexpr int kStallMs = 60'000;
constexpr std::size_t kChunkBytes = 1 << 20;

[[noreturn]] void fail_errno(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
}

// Reads exactly `size` bytes; false if the peer closed before the first one.
bool read_all(int fd, void* out, std::size_t size) {
    auto* p = static_cast<char*>(out);
    std::size_t got = 0;
    while (got < size) {
        const ssize_t n = ::read(fd, p + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail_errno("reading a request");
        if (n == 0) {
            if (got == 0) return false;
            throw std::runtime_error("a request ended early");
        }
        got += static_cast<std::size_t>(n);
    }
    return true;
}

// The next request's file name, or nothing at CRIU's end of requests.
std::optional<std::string> read_request(int socket) {
    unsigned char length_bytes[wire::kLengthBytes];
    if (!read_all(socket, length_bytes, sizeof length_bytes)) return std::nullopt;
    const std::uint32_t length = wire::decode_length(length_bytes);
    wire::check_length(length);
    std::string body(length, '\0');
    if (!read_all(socket, body.data(), body.size()))
        throw std::runtime_error("a request ended early");
    return criu::decode_stream_request(body);
}

const ImageEntry* find_entry(const SnapshotImage& image, const std::string& name) {
    for (const auto& e : image.files())
        if (e.name == name) return &e;
    return nullptr;
}

// One image file's pipe and how far it got.
struct OpenPipe {
    UniqueFd fd;
    const ImageEntry* entry;
    std::size_t done = 0;
};

// The pipe CRIU passes next for `entry`, enlarged as the daemon enlarges it, non-blocking.
OpenPipe accept_pipe(int control, const ImageEntry* entry, std::size_t capacity) {
    UniqueFd pipe = criu::receive_fd_blocking(control, std::chrono::milliseconds(kStallMs));
    criu::enlarge_pipe(pipe.get(), capacity);
    criu::set_nonblocking(pipe.get());
    return {std::move(pipe), entry};
}

// Polls the socket (while open) for `socket_events` and every pipe for `pipe_events`; returns the
// revents, the socket's first. Throws when nothing moved for kStallMs.
std::vector<short> wait_any(int socket, const std::vector<OpenPipe>& pipes, short pipe_events) {
    std::vector<pollfd> set;
    if (socket >= 0) set.push_back({socket, POLLIN, 0});
    for (const auto& p : pipes) set.push_back({p.fd.get(), pipe_events, 0});
    int n;
    do n = ::poll(set.data(), set.size(), kStallMs);
    while (n < 0 && errno == EINTR);
    if (n < 0) fail_errno("poll");
    if (n == 0) throw std::runtime_error("nothing moved for 60 s");
    std::vector<short> revents;
    if (socket < 0) revents.push_back(0);
    for (const auto& s : set) revents.push_back(s.revents);
    return revents;
}

// Reads what `p` holds into its place in `into`; true at EOF (after checking the length).
bool drain(OpenPipe& p, const Arena& into) {
    char* to = into.data() + p.entry->offset;
    for (;;) {
        char overflow[1];
        const std::size_t room = p.entry->size - p.done;
        const ssize_t n = room > 0 ? ::read(p.fd.get(), to + p.done, room)
                                   : ::read(p.fd.get(), overflow, sizeof overflow);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return false;
        if (n < 0) fail_errno("reading " + p.entry->name);
        if (n == 0) {
            if (p.done != p.entry->size) throw std::runtime_error(p.entry->name + " ended short");
            return true;
        }
        if (room == 0) throw std::runtime_error(p.entry->name + " is longer than generated");
        p.done += static_cast<std::size_t>(n);
    }
}

// Lends what fits of `p` to its pipe; true once all of it is in.
bool lend(OpenPipe& p, const SnapshotImage& image) {
    char* from = const_cast<char*>(image.bytes(*p.entry));
    while (p.done < p.entry->size) {
        iovec piece{from + p.done, std::min(p.entry->size - p.done, kChunkBytes)};
        const ssize_t n = ::vmsplice(p.fd.get(), &piece, 1, SPLICE_F_NONBLOCK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return false;
        if (n < 0) fail_errno("vmsplice of " + p.entry->name);
        p.done += static_cast<std::size_t>(n);
    }
    return true;
}

// The poll loop both endpoints share: `on_request(name)` for each request (it may open a pipe),
// `on_ready(pipe)` for each ready pipe (true: the pipe is done and is closed).
template <typename OnRequest, typename OnReady>
void serve(UniqueFd socket, std::vector<OpenPipe>& pipes, short pipe_events, OnRequest on_request,
           OnReady on_ready) {
    while (socket || !pipes.empty()) {
        const auto revents = wait_any(socket ? socket.get() : -1, pipes, pipe_events);
        if (revents[0] != 0) {
            auto name = read_request(socket.get());
            if (name)
                on_request(*name);
            else
                socket.reset();  // CRIU's end of requests
        }
        for (std::size_t i = revents.size() - 1; i > 0; --i) {
            if (revents[i] == 0 || i - 1 >= pipes.size()) continue;
            if (on_ready(pipes[i - 1]))
                pipes.erase(pipes.begin() + static_cast<std::ptrdiff_t>(i - 1));
        }
    }
}

}  // namespace

OneShotEndpoint::OneShotEndpoint(std::string path, std::function<void(UniqueFd)> serve_one)
    : path_(std::move(path)), listener_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (!listener_) fail_errno("socket");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof addr.sun_path)
        throw std::runtime_error("socket path too long: " + path_);
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    ::unlink(path_.c_str());
    if (::bind(listener_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_.get(), 1) != 0)
        fail_errno("listening on " + path_);
    thread_ = std::thread([this, serve_one = std::move(serve_one)] {
        try {
            pollfd incoming{listener_.get(), POLLIN, 0};
            if (::poll(&incoming, 1, kStallMs) != 1)
                throw std::runtime_error("no connection on " + path_);
            UniqueFd connection(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
            if (!connection) fail_errno("accept on " + path_);
            serve_one(std::move(connection));
        } catch (...) {
            error_ = std::current_exception();
        }
    });
}

OneShotEndpoint::~OneShotEndpoint() {
    if (thread_.joinable()) thread_.join();
    ::unlink(path_.c_str());
}

void OneShotEndpoint::finish() {
    if (thread_.joinable()) thread_.join();
    if (error_) std::rethrow_exception(error_);
}

void sink_dump(UniqueFd socket, const SnapshotImage& image, const Arena& into) {
    const int control = socket.get();
    std::vector<OpenPipe> pipes;
    auto on_request = [&](const std::string& name) {
        const ImageEntry* entry = find_entry(image, name);
        if (!entry) throw std::runtime_error("the dump sent a file never generated: " + name);
        pipes.push_back(accept_pipe(control, entry, criu::kCapturePipeBytes));
    };
    serve(std::move(socket), pipes, POLLIN, on_request,
          [&](OpenPipe& p) { return drain(p, into); });
}

void feed_restore(UniqueFd socket, const SnapshotImage& image) {
    const int control = socket.get();
    std::vector<OpenPipe> pipes;
    auto on_request = [&](const std::string& name) {
        const ImageEntry* entry = find_entry(image, name);
        const std::string& reply = criu::stream_reply_frame(entry != nullptr);
        if (::send(control, reply.data(), reply.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(reply.size()))
            fail_errno("answering the request for " + name);
        if (!entry) return;
        pipes.push_back(accept_pipe(control, entry, criu::kServePipeBytes));
    };
    serve(std::move(socket), pipes, POLLOUT, on_request,
          [&](OpenPipe& p) { return lend(p, image); });
}

}  // namespace imgx::bench
