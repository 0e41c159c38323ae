// The fake NOTIFY_SOCKET: bound by the test, read with bounded waits.
#include "support/notify_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace imgtest {

NotifySocket::NotifySocket(std::string path) : path_(std::move(path)) {
    fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (!fd_ || path_.size() >= sizeof address.sun_path)
        throw std::runtime_error("cannot create a notify socket at " + path_);
    std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        throw std::runtime_error("cannot bind " + path_ + ": " + std::strerror(errno));
}

bool NotifySocket::receive(Deadline deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd_.get(), POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char buffer[4096];
    const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
    if (n < 0) return false;
    messages_.emplace_back(buffer, static_cast<std::size_t>(n));
    return true;
}

std::optional<std::string> NotifySocket::wait_for(std::string_view prefix, Deadline deadline) {
    for (;;) {
        for (; next_ < messages_.size(); ++next_) {
            std::string_view message = messages_[next_];
            for (std::size_t start = 0; start <= message.size();) {
                std::size_t end = message.find('\n', start);
                if (end == std::string_view::npos) end = message.size();
                auto line = message.substr(start, end - start);
                if (line.starts_with(prefix)) return messages_[next_++];
                start = end + 1;
            }
        }
        if (Clock::now() >= deadline) return std::nullopt;
        receive(deadline);
    }
}

std::string NotifySocket::history() const {
    std::string out;
    for (const auto& m : messages_) out += "  [" + m + "]\n";
    return out.empty() ? "  (nothing received)\n" : out;
}

}  // namespace imgtest
