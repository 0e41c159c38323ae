// Deadline-bounded I/O with poll().
#include "support/fd_io.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <system_error>

namespace imgtest {

namespace {

int remaining_ms(Deadline deadline) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::clamp<long long>(left, 0, 1000));
}

// Polls `fd` for `events`; returns the revents, 0 on timeout of this slice.
short poll_once(int fd, short events, Deadline deadline) {
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");
    return n > 0 ? p.revents : 0;
}

}  // namespace

std::string_view to_string(IoStatus status) {
    switch (status) {
        case IoStatus::ok:
            return "ok";
        case IoStatus::eof:
            return "eof";
        case IoStatus::timeout:
            return "timeout";
        case IoStatus::error:
            return "error";
    }
    return "?";
}

IoResult read_exact(int fd, void* buffer, std::size_t size, Deadline deadline) {
    IoResult r;
    auto* out = static_cast<char*>(buffer);
    while (r.transferred < size) {
        if (Clock::now() >= deadline) {
            r.status = IoStatus::timeout;
            return r;
        }
        if (!poll_once(fd, POLLIN, deadline)) continue;
        ssize_t n = ::read(fd, out + r.transferred, size - r.transferred);
        if (n > 0) {
            r.transferred += static_cast<std::size_t>(n);
            continue;
        }
        if (n == 0) {
            r.status = IoStatus::eof;
            return r;
        }
        if (errno == EINTR || errno == EAGAIN) continue;
        r.status = IoStatus::error;
        r.last_errno = errno;
        return r;
    }
    return r;
}

IoResult write_all(int fd, std::string_view data, Deadline deadline) {
    IoResult r;
    while (r.transferred < data.size()) {
        if (Clock::now() >= deadline) {
            r.status = IoStatus::timeout;
            return r;
        }
        short revents = poll_once(fd, POLLOUT, deadline);
        if (!revents) continue;
        if (revents & (POLLERR | POLLHUP) && !(revents & POLLOUT)) {
            r.status = IoStatus::error;
            r.last_errno = EPIPE;
            return r;
        }
        // A pipe with room accepts at least PIPE_BUF bytes without blocking; stay below that
        // unless the descriptor is non-blocking.
        const bool nonblocking = ::fcntl(fd, F_GETFL) & O_NONBLOCK;
        std::size_t chunk = data.size() - r.transferred;
        if (!nonblocking) chunk = std::min<std::size_t>(chunk, PIPE_BUF);
        ssize_t n = ::write(fd, data.data() + r.transferred, chunk);
        if (n >= 0) {
            r.transferred += static_cast<std::size_t>(n);
            continue;
        }
        if (errno == EINTR || errno == EAGAIN) continue;
        r.status = IoStatus::error;
        r.last_errno = errno;
        return r;
    }
    return r;
}

ReadAll read_to_eof(int fd, Deadline deadline) {
    ReadAll all;
    char buffer[64 * 1024];
    for (;;) {
        if (Clock::now() >= deadline) {
            all.result.status = IoStatus::timeout;
            return all;
        }
        if (!poll_once(fd, POLLIN, deadline)) continue;
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n > 0) {
            all.data.append(buffer, static_cast<std::size_t>(n));
            all.result.transferred += static_cast<std::size_t>(n);
            continue;
        }
        if (n == 0) return all;  // EOF is success here
        if (errno == EINTR || errno == EAGAIN) continue;
        all.result.status = IoStatus::error;
        all.result.last_errno = errno;
        return all;
    }
}

bool wait_readable(int fd, Deadline deadline) {
    do {
        if (poll_once(fd, POLLIN, deadline)) return true;
    } while (Clock::now() < deadline);
    return false;
}

bool wait_peer_closed(int socket_fd, Deadline deadline) {
    if (!wait_readable(socket_fd, deadline)) return false;
    char byte;
    ssize_t n = ::recv(socket_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
}

void make_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        throw std::system_error(errno, std::generic_category(), "fcntl(O_NONBLOCK)");
}

}  // namespace imgtest
