// CRIU's stream-protocol client behaviour: requests, pipe passing, pipe data, end of dump/restore.
#include "criu_stream_player.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "criu/fd_passing.hpp"
#include "criu/stream_codec.hpp"
#include "wire/frame.hpp"

namespace imgx::bench {

namespace {

// One vmsplice/write moves at most this much: the largest pipe the kernel allows here.
constexpr std::size_t kPipeChunkBytes = 1 << 20;
// What we ask for our dump pipes (the kernel falls back to 1 MiB, pipe-max-size on these hosts).
constexpr std::size_t kDumpPipeBytes = 4 << 20;

[[noreturn]] void fail_errno(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
}

struct Pipe {
    UniqueFd read_end, write_end;
};

// A plain blocking pipe, as CRIU makes it.
Pipe make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) fail_errno("pipe");
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void set_socket_timeouts(int fd, std::chrono::milliseconds timeout) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// CRIU writes length and body with one writev(); a short write would be a protocol break.
void send_request(int socket, const std::string& name) {
    const std::string frame = criu::encode_stream_request(name);
    const ssize_t n = ::send(socket, frame.data(), frame.size(), MSG_NOSIGNAL);
    if (n < 0) fail_errno("sending the request for " + name);
    if (static_cast<std::size_t>(n) != frame.size())
        throw std::runtime_error("request for " + name + " went out in pieces");
}

void read_exact(int socket, void* out, std::size_t size, const std::string& what) {
    auto* p = static_cast<char*>(out);
    while (size > 0) {
        const ssize_t n = ::read(socket, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            throw std::runtime_error("no answer from img-cached for " + what);
        if (n < 0) fail_errno("reading the answer for " + what);
        if (n == 0)
            throw std::runtime_error("img-cached closed the connection instead of answering for " +
                                     what);
        p += n;
        size -= static_cast<std::size_t>(n);
    }
}

// Restore: one request and its reply, read exactly as CRIU does (4 bytes, then the body).
bool ask_exists(int socket, const std::string& name) {
    send_request(socket, name);
    unsigned char length_bytes[wire::kLengthBytes];
    read_exact(socket, length_bytes, sizeof length_bytes, name);
    const std::uint32_t length = wire::decode_length(length_bytes);
    wire::check_length(length);
    std::string body(length, '\0');
    read_exact(socket, body.data(), body.size(), name);
    return criu::decode_stream_reply(body);
}

struct OpenFile {
    UniqueFd fd;
    const ImageEntry* entry;
    std::size_t done = 0;
};

// Waits until one of `files` is ready for `events`; false means nothing moved for `timeout`.
bool wait_ready(std::vector<OpenFile>& files, short events, std::vector<pollfd>& ready,
                std::chrono::milliseconds timeout) {
    ready.clear();
    for (const auto& f : files) ready.push_back({f.fd.get(), events, 0});
    for (;;) {
        const int n = ::poll(ready.data(), ready.size(), static_cast<int>(timeout.count()));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail_errno("poll");
        return n > 0;
    }
}

// Dump: pushes as much of `f` into its pipe as fits. True when the whole file is in.
bool push(OpenFile& f, const SnapshotImage& image, PipeWriteMode mode) {
    const char* base = image.bytes(*f.entry);
    while (f.done < f.entry->size) {
        const std::size_t want = std::min(f.entry->size - f.done, kPipeChunkBytes);
        ssize_t n;
        if (mode == PipeWriteMode::vmsplice) {
            iovec iov{const_cast<char*>(base + f.done), want};
            n = ::vmsplice(f.fd.get(), &iov, 1, SPLICE_F_NONBLOCK);
        } else {
            n = ::write(f.fd.get(), base + f.done, want);
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return false;
        if (n < 0 && errno == EPIPE)
            throw std::runtime_error("img-proxyd closed the pipe of " + f.entry->name + " after " +
                                     std::to_string(f.done) + " of " +
                                     std::to_string(f.entry->size) + " bytes");
        if (n < 0) fail_errno("writing " + f.entry->name + " into its pipe");
        f.done += static_cast<std::size_t>(n);
    }
    return true;
}

// Restore: takes what the pipe of `f` holds. True at EOF (after checking the length).
bool pull(OpenFile& f, char* into) {
    char overflow[4096];
    for (;;) {
        const std::size_t room = f.entry->size - f.done;
        const ssize_t n = room > 0 ? ::read(f.fd.get(), into + f.done, room)
                                   : ::read(f.fd.get(), overflow, sizeof overflow);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return false;
        if (n < 0) fail_errno("reading " + f.entry->name + " from its pipe");
        if (n == 0) {
            if (f.done != f.entry->size)
                throw std::runtime_error(f.entry->name + " ended after " + std::to_string(f.done) +
                                         " of " + std::to_string(f.entry->size) + " bytes");
            return true;
        }
        if (room == 0)
            throw std::runtime_error(f.entry->name + " is longer than the " +
                                     std::to_string(f.entry->size) + " bytes dumped");
        f.done += static_cast<std::size_t>(n);
    }
}

}  // namespace

UniqueFd connect_stream_socket(const std::string& path) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) fail_errno("socket");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
        throw std::runtime_error("socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        fail_errno("connecting to " + path);
    return fd;
}

void play_dump(UniqueFd socket, const SnapshotImage& image, const PlayerOptions& options) {
    set_socket_timeouts(socket.get(), options.stall_timeout);
    const auto& entries = image.files();
    std::vector<OpenFile> open;
    std::vector<pollfd> ready;
    std::size_t next = 0;
    while (next < entries.size() || !open.empty()) {
        while (open.size() < options.open_files && next < entries.size()) {
            const ImageEntry& entry = entries[next++];
            send_request(socket.get(), entry.name);
            Pipe pipe = make_pipe();
            criu::enlarge_pipe(pipe.write_end.get(), kDumpPipeBytes);
            criu::send_fd_blocking(socket.get(), pipe.read_end.get());
            pipe.read_end.reset();          // CRIU closes its copy of the end it passed at once
            if (entry.size == 0) continue;  // closing the write end is the whole (empty) image
            criu::set_nonblocking(pipe.write_end.get());
            open.push_back({std::move(pipe.write_end), &entry});
        }
        if (open.empty()) continue;
        if (!wait_ready(open, POLLOUT, ready, options.stall_timeout))
            throw std::runtime_error("img-proxyd stopped reading " + open.front().entry->name);
        for (std::size_t i = ready.size(); i-- > 0;) {
            if (ready[i].revents == 0) continue;
            if (ready[i].revents & (POLLERR | POLLNVAL))
                throw std::runtime_error("img-proxyd closed the pipe of " + open[i].entry->name);
            if (push(open[i], image, options.write_mode))
                open.erase(open.begin() + static_cast<std::ptrdiff_t>(i));
        }
    }
    // End of dump: EOF on the socket means "no more files" (each pipe's EOF ended its file).
    socket.reset();
}

void play_restore(UniqueFd socket, const SnapshotImage& image, const Arena& into,
                  const PlayerOptions& options) {
    set_socket_timeouts(socket.get(), options.stall_timeout);
    for (const auto& name : SnapshotImage::never_written())
        if (ask_exists(socket.get(), name))
            throw std::runtime_error("img-cached claims never-written " + name + " exists");
    const auto& entries = image.files();
    std::vector<OpenFile> open;
    std::vector<pollfd> ready;
    std::size_t next = 0;
    while (next < entries.size() || !open.empty()) {
        while (open.size() < options.open_files && next < entries.size()) {
            const ImageEntry& entry = entries[next++];
            if (!ask_exists(socket.get(), entry.name))
                throw std::runtime_error("img-cached says " + entry.name + " does not exist");
            Pipe pipe = make_pipe();
            criu::send_fd_blocking(socket.get(), pipe.write_end.get());
            pipe.write_end.reset();
            criu::set_nonblocking(pipe.read_end.get());
            open.push_back({std::move(pipe.read_end), &entry});
        }
        if (!wait_ready(open, POLLIN, ready, options.stall_timeout))
            throw std::runtime_error("img-cached stopped writing " + open.front().entry->name);
        for (std::size_t i = ready.size(); i-- > 0;) {
            if (ready[i].revents == 0) continue;
            if (pull(open[i], into.data() + open[i].entry->offset))
                open.erase(open.begin() + static_cast<std::ptrdiff_t>(i));
        }
    }
    // End of restore: CRIU closes the socket once the restored tasks run.
    socket.reset();
}

}  // namespace imgx::bench
