// SCM_RIGHTS reception and pipe preparation.
#include "criu/fd_passing.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>

#include "wire/frame.hpp"

namespace imgx::criu {

namespace {

inline constexpr std::size_t kFallbackPipeBytes = 1 << 20;

struct FdMessage {
    ssize_t bytes = 0;
    unsigned char byte = 0xff;
    UniqueFd fd;
    int fd_count = 0;
    bool truncated = false;
};

// One non-blocking recvmsg of at most `size` bytes into `data` and one descriptor. Returns false
// if it would block. A UNIX stream socket ends the read after the bytes that carried descriptors,
// so nothing sent after a passed pipe is taken with it.
bool try_recvmsg(int socket_fd, void* data, std::size_t size, FdMessage& m) {
    iovec iov{data, size};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    do {
        n = ::recvmsg(socket_fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
        throw wire::ProtocolError(std::string("receiving a pipe: ") + std::strerror(errno));
    }
    // Take ownership of whatever arrived before judging it, so nothing leaks.
    UniqueFd& received = m.fd;
    int& count = m.fd_count;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        std::size_t fds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < fds; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (count++ == 0)
                received.reset(fd);
            else
                ::close(fd);
        }
    }
    m.bytes = n;
    m.truncated = (msg.msg_flags & MSG_CTRUNC) != 0;
    if (m.truncated) throw wire::ProtocolError("pipe message truncated (MSG_CTRUNC)");
    if (count > 1)
        throw wire::ProtocolError("expected one descriptor, received " + std::to_string(count));
    if (count == 1 && !is_pipe(received.get()))
        throw wire::ProtocolError("passed descriptor is not a pipe");
    return true;
}

// One byte and at most one descriptor.
bool try_recvmsg(int socket_fd, FdMessage& m) { return try_recvmsg(socket_fd, &m.byte, 1, m); }

boost::asio::awaitable<FdMessage> recv_fd_message(
    boost::asio::local::stream_protocol::socket& socket) {
    FdMessage m;
    while (!try_recvmsg(socket.native_handle(), m))
        co_await socket.async_wait(boost::asio::socket_base::wait_read, boost::asio::use_awaitable);
    co_return m;
}

// The pipe of a message that must carry exactly one, with a zero data byte.
UniqueFd take_pipe(FdMessage& m) {
    if (m.bytes == 0)
        throw wire::ProtocolError("peer closed the connection where a pipe was expected");
    if (m.fd_count != 1)
        throw wire::ProtocolError("expected a pipe, received data without a descriptor");
    if (m.byte != 0) throw wire::ProtocolError("fd message carries a non-zero data byte");
    return std::move(m.fd);
}

}  // namespace

boost::asio::awaitable<UniqueFd> receive_fd(boost::asio::local::stream_protocol::socket& socket) {
    FdMessage m = co_await recv_fd_message(socket);
    co_return take_pipe(m);
}

boost::asio::awaitable<std::optional<RequestWithPipe>> receive_request_and_pipe(
    boost::asio::local::stream_protocol::socket& socket, std::uint32_t max_body) {
    // A request is a few dozen bytes: the first read asks for that much, and one read takes
    // the request and its pipe together when both were sent. Once the length is known, reads
    // ask for exactly what is left, so nothing after the pipe's byte is ever taken.
    constexpr std::size_t kFirstRead = 512;
    std::string frame(wire::kLengthBytes + kFirstRead + 1, '\0');
    std::size_t have = 0;
    std::optional<std::size_t> total;  // header + body + the pipe's byte, once the length is known
    RequestWithPipe out;
    while (!total || have + 1 < *total) {
        const std::size_t room = (total ? *total : frame.size()) - have;
        FdMessage m;
        if (!try_recvmsg(socket.native_handle(), frame.data() + have, room, m)) {
            co_await socket.async_wait(boost::asio::socket_base::wait_read,
                                       boost::asio::use_awaitable);
            continue;
        }
        if (m.bytes == 0) {
            if (have == 0) co_return std::nullopt;  // CRIU is done: no request was begun
            throw wire::ProtocolError("connection closed inside a frame");
        }
        have += static_cast<std::size_t>(m.bytes);
        if (m.fd_count == 1) out.pipe = std::move(m.fd);
        if (!total && have >= wire::kLengthBytes) {
            unsigned char length[wire::kLengthBytes];
            std::memcpy(length, frame.data(), sizeof length);
            const std::uint32_t body = wire::decode_length(length);
            wire::check_length(body, max_body);
            total = wire::kLengthBytes + body + 1;
            if (frame.size() < *total) frame.resize(*total);
        }
        // A descriptor ends a read: one before the request's last byte is out of place.
        if (out.pipe && (!total || have < *total))
            throw wire::ProtocolError("a descriptor arrived inside a request frame");
    }
    if (have >= *total) {  // the pipe's byte came along: it must carry the pipe, and be 0
        if (!out.pipe || have > *total)
            throw wire::ProtocolError("expected a pipe, received data without a descriptor");
        if (frame[have - 1] != 0)
            throw wire::ProtocolError("fd message carries a non-zero data byte");
    }
    out.body = frame.substr(wire::kLengthBytes, *total - wire::kLengthBytes - 1);
    co_return out;
}

UniqueFd receive_fd_blocking(int socket_fd, std::chrono::milliseconds limit) {
    FdMessage m;
    while (!try_recvmsg(socket_fd, m)) {
        pollfd readable{socket_fd, POLLIN, 0};
        const int n = ::poll(&readable, 1, static_cast<int>(limit.count()));
        if (n == 0) throw wire::ProtocolError("no pipe passed within the time limit");
        if (n < 0 && errno != EINTR)
            throw wire::ProtocolError(std::string("waiting for a pipe: ") + std::strerror(errno));
    }
    return take_pipe(m);
}

boost::asio::awaitable<UniqueFd> receive_fd(boost::asio::local::stream_protocol::socket& socket,
                                            std::chrono::steady_clock::duration limit) {
    using namespace boost::asio::experimental::awaitable_operators;
    boost::asio::steady_timer timer(socket.get_executor(), limit);
    boost::system::error_code ec;
    auto first =
        co_await (socket.async_wait(boost::asio::socket_base::wait_read,
                                    boost::asio::redirect_error(boost::asio::use_awaitable, ec)) ||
                  timer.async_wait(boost::asio::use_awaitable));
    if (first.index() == 1)
        throw wire::ProtocolError(
            "CRIU sent no pipe within " +
            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(limit).count()) +
            " s after the reply (a 2017-2019 CRIU build needs --remote-data=socket)");
    co_return co_await receive_fd(socket);
}

boost::asio::awaitable<WriteSource> receive_write_source(
    boost::asio::local::stream_protocol::socket& socket) {
    FdMessage m = co_await recv_fd_message(socket);
    WriteSource out;
    if (m.fd_count == 1) {
        if (m.byte != 0) throw wire::ProtocolError("fd message carries a non-zero data byte");
        out.pipe = std::move(m.fd);
    } else if (m.bytes == 0) {
        out.socket_eof = true;
    } else {
        out.first_bytes.assign(1, static_cast<char>(m.byte));
    }
    co_return out;
}

void send_fd_blocking(int socket_fd, int fd) {
    unsigned char byte = 0;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))]{};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    if (::sendmsg(socket_fd, &msg, MSG_NOSIGNAL) != 1)
        throw std::system_error(errno, std::generic_category(), "sendmsg(SCM_RIGHTS)");
}

bool is_pipe(int fd) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

void set_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        throw std::system_error(errno, std::generic_category(), "fcntl(O_NONBLOCK)");
}

std::size_t enlarge_pipe(int fd, std::size_t wanted) {
    for (std::size_t size : {wanted, kFallbackPipeBytes}) {
        int got = ::fcntl(fd, F_SETPIPE_SZ, static_cast<int>(size));
        if (got > 0) return static_cast<std::size_t>(got);
    }
    int current = ::fcntl(fd, F_GETPIPE_SZ);
    return current > 0 ? static_cast<std::size_t>(current) : 0;
}

std::string describe_peer(int socket_fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(socket_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return "unknown peer";
    return "pid " + std::to_string(cred.pid) + " uid " + std::to_string(cred.uid);
}

}  // namespace imgx::criu
