// Blocking control client, with a deadline on every request.
#include "control/control_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "wire/frame.hpp"

namespace imgx::control {

namespace {

constexpr std::uint32_t kMaxResponseBytes = 16 * 1024 * 1024;

std::string timeout_text(const std::string& path) {
    return "the daemon at " + path +
           " did not answer in time (is it starting, stuck, or failing to start? see its "
           "journal; --timeout sets the limit)";
}

// Milliseconds left until `deadline` for poll(): -1 without one, 0 once it passed.
int poll_budget(const std::optional<ControlClient::Clock::time_point>& deadline) {
    if (!deadline) return -1;
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(*deadline - ControlClient::Clock::now());
    return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 1 << 30));
}

}  // namespace

std::string connect_error_text(const std::string& path, int error) {
    switch (error) {
        case ENOENT:
            return "no daemon running here: " + path + " does not exist";
        case EACCES:
        case EPERM:
            return "permission denied on " + path +
                   " (run as root, or as a user allowed by the daemon's allow_uids/allow_gids "
                   "who can also open the socket file)";
        case ECONNREFUSED:
            return path +
                   " exists but no daemon listens on it (a stale socket file: the daemon stopped "
                   "or is not running)";
        default:
            return "cannot reach the daemon at " + path + ": " + std::strerror(error);
    }
}

ControlClient::ControlClient(const std::string& path, std::optional<Clock::time_point> deadline)
    : path_(path), fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)), deadline_(deadline) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
        throw std::runtime_error("control socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (!fd_) throw std::runtime_error(connect_error_text(path, errno));
    if (deadline_) {
        // A UNIX connect blocks while the listener's backlog is full; SO_SNDTIMEO bounds it.
        const auto ms = std::max(poll_budget(deadline_), 1);
        timeval limit{.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
        ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    }
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        if (errno == EAGAIN || errno == EINPROGRESS) throw ControlTimeout(timeout_text(path));
        throw std::runtime_error(connect_error_text(path, errno));
    }
}

void ControlClient::read_exact(void* out, std::size_t size) {
    auto* p = static_cast<char*>(out);
    while (size > 0) {
        pollfd ready{.fd = fd_.get(), .events = POLLIN, .revents = 0};
        const int polled = ::poll(&ready, 1, poll_budget(deadline_));
        if (polled < 0 && errno == EINTR) continue;
        if (polled == 0) throw ControlTimeout(timeout_text(path_));
        ssize_t n = ::read(fd_.get(), p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            throw std::runtime_error("daemon at " + path_ + " closed the connection unexpectedly");
        p += n;
        size -= static_cast<std::size_t>(n);
    }
}

Response ControlClient::call(const Request& request,
                             const std::function<void(const Response&)>& on_response) {
    const std::string frame = wire::encode_frame(request);
    if (::send(fd_.get(), frame.data(), frame.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(frame.size())) {
        if (errno == EAGAIN) throw ControlTimeout(timeout_text(path_));
        throw std::runtime_error("cannot send to the daemon at " + path_ + ": " +
                                 std::strerror(errno));
    }
    for (;;) {
        unsigned char length_bytes[wire::kLengthBytes];
        read_exact(length_bytes, sizeof length_bytes);
        const auto length = wire::decode_length(length_bytes);
        wire::check_length(length, kMaxResponseBytes);
        std::string body(length, '\0');
        read_exact(body.data(), body.size());
        Response response;
        wire::decode_body(body, response, "control response");
        if (on_response) on_response(response);
        if (response.final()) return response;
    }
}

}  // namespace imgx::control
