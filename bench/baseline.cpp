// Pipe -> relay -> loopback TCP -> memory, the cheapest version of what the daemon pair does.
#include "baseline.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <thread>

#include "measure.hpp"
#include "util/unique_fd.hpp"

namespace imgx::bench {

namespace {

constexpr std::size_t kChunkBytes = 1 << 20;
constexpr int kPipeBytes[] = {4 << 20, 1 << 20};
constexpr int kStallSeconds = 60;

[[noreturn]] void fail_errno(const std::string& what) {
    throw std::runtime_error("baseline: " + what + ": " + std::strerror(errno));
}

struct Connection {
    UniqueFd sender, receiver;
};

Connection connect_loopback() {
    UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (!listener || ::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener.get(), 1) != 0 ||
        ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        fail_errno("listening on loopback");
    Connection c;
    c.sender.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!c.sender ||
        ::connect(c.sender.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        fail_errno("connecting on loopback");
    c.receiver.reset(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!c.receiver) fail_errno("accepting on loopback");
    // Same socket options as the link (img-proxyd sets TCP_NODELAY); buffers stay at the defaults.
    const int one = 1;
    ::setsockopt(c.sender.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(c.receiver.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{kStallSeconds, 0};
    ::setsockopt(c.receiver.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return c;
}

void write_into_pipe(int fd, const std::vector<const Arena*>& sources, PipeWriteMode mode) {
    for (const Arena* source : sources) {
        std::size_t done = 0;
        while (done < source->size()) {
            const std::size_t want = std::min(source->size() - done, kChunkBytes);
            ssize_t n;
            if (mode == PipeWriteMode::vmsplice) {
                iovec iov{source->data() + done, want};
                n = ::vmsplice(fd, &iov, 1, 0);
            } else {
                n = ::write(fd, source->data() + done, want);
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) fail_errno("writing the pipe");
            done += static_cast<std::size_t>(n);
        }
    }
}

// Fills `buffer` from the pipe as far as it goes; returns the bytes read (short only at EOF).
std::size_t fill_from_pipe(int fd, char* buffer, std::size_t capacity) {
    std::size_t got = 0;
    while (got < capacity) {
        const ssize_t n = ::read(fd, buffer + got, capacity - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail_errno("reading the pipe");
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    return got;
}

void send_all(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail_errno("sending on loopback");
        data += n;
        size -= static_cast<std::size_t>(n);
    }
}

void relay(int pipe_fd, int socket_fd, const Arena& buffer) {
    for (;;) {
        const std::size_t got = fill_from_pipe(pipe_fd, buffer.data(), buffer.size());
        if (got > 0) send_all(socket_fd, buffer.data(), got);
        if (got < buffer.size()) break;
    }
    ::shutdown(socket_fd, SHUT_WR);
}

void receive(int socket_fd, const std::vector<const Arena*>& sinks) {
    for (const Arena* sink : sinks) {
        std::size_t done = 0;
        while (done < sink->size()) {
            const ssize_t n = ::recv(socket_fd, sink->data() + done, sink->size() - done, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) fail_errno("receiving on loopback");
            if (n == 0) throw std::runtime_error("baseline: stream ended early");
            done += static_cast<std::size_t>(n);
        }
    }
}

}  // namespace

double run_baseline(const std::vector<const Arena*>& sources,
                    const std::vector<const Arena*>& sinks, PipeWriteMode mode) {
    Connection connection = connect_loopback();
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) fail_errno("pipe");
    UniqueFd pipe_read(fds[0]), pipe_write(fds[1]);
    for (int size : kPipeBytes)
        if (::fcntl(pipe_write.get(), F_SETPIPE_SZ, size) > 0) break;
    const Arena relay_buffer(kChunkBytes);

    std::exception_ptr writer_error, relay_error;
    const auto start = Clock::now();
    std::thread writer([&] {
        try {
            write_into_pipe(pipe_write.get(), sources, mode);
        } catch (...) {
            writer_error = std::current_exception();
        }
        pipe_write.reset();  // EOF for the relay
    });
    std::thread relayer([&] {
        try {
            relay(pipe_read.get(), connection.sender.get(), relay_buffer);
        } catch (...) {
            relay_error = std::current_exception();
        }
        pipe_read.reset();  // a stuck writer gets EPIPE
        connection.sender.reset();
    });
    std::exception_ptr receive_error;
    try {
        receive(connection.receiver.get(), sinks);
    } catch (...) {
        receive_error = std::current_exception();
        ::shutdown(connection.receiver.get(), SHUT_RDWR);
    }
    const auto end = Clock::now();
    writer.join();
    relayer.join();
    for (const auto& e : {writer_error, relay_error, receive_error})
        if (e) std::rethrow_exception(e);
    return seconds_between(start, end);
}

}  // namespace imgx::bench
