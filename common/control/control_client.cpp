// Blocking control client.
#include "control/control_client.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "wire/frame.hpp"

namespace imgx::control {

namespace {

void read_exact(int fd, void* out, std::size_t size, const std::string& path) {
    auto* p = static_cast<char*>(out);
    while (size > 0) {
        ssize_t n = ::read(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            throw std::runtime_error("daemon at " + path + " closed the connection unexpectedly");
        p += n;
        size -= static_cast<std::size_t>(n);
    }
}

}  // namespace

ControlClient::ControlClient(const std::string& path)
    : path_(path), fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
        throw std::runtime_error("control socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (!fd_ || ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        throw std::runtime_error("cannot reach the daemon at " + path + ": " +
                                 std::strerror(errno));
}

Response ControlClient::call(const Request& request,
                             const std::function<void(const Response&)>& on_response) {
    const std::string frame = wire::encode_frame(request);
    if (::send(fd_.get(), frame.data(), frame.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(frame.size()))
        throw std::runtime_error("cannot send to the daemon at " + path_ + ": " +
                                 std::strerror(errno));
    for (;;) {
        unsigned char length_bytes[wire::kLengthBytes];
        read_exact(fd_.get(), length_bytes, sizeof length_bytes, path_);
        const auto length = wire::decode_length(length_bytes);
        wire::check_length(length, 16 * 1024 * 1024);
        std::string body(length, '\0');
        read_exact(fd_.get(), body.data(), body.size(), path_);
        Response response;
        wire::decode_body(body, response, "control response");
        if (on_response) on_response(response);
        if (response.final()) return response;
    }
}

}  // namespace imgx::control
