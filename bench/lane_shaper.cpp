// The per-connection rate-capping relay: one thread per direction of each connection, the
// direction towards the cache paced by a byte budget that grows with time.
#include "lane_shaper.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace imgx::bench {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kChunk = 64 * 1024;
constexpr int kAcceptPollMs = 50;
constexpr int kReceiveBuffer = 256 * 1024;

sockaddr_in loopback(unsigned port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    return addr;
}

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(fmt::format("lane shaper: {}: {}", what, std::strerror(errno)));
}

bool write_all(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

std::string LaneShaping::describe() const {
    if (first_mbps > 0 && every_mbps > 0)
        return fmt::format("first connection capped at {} MB/s, the others at {} MB/s", first_mbps,
                           every_mbps);
    if (first_mbps > 0) return fmt::format("first connection capped at {} MB/s", first_mbps);
    if (every_mbps > 0) return fmt::format("every connection capped at {} MB/s", every_mbps);
    return "not shaped";
}

LaneShaper::LaneShaper(LaneShaping shaping, unsigned target_port)
    : shaping_(shaping), target_port_(target_port) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener_ < 0) fail("socket");
    // A small receive buffer, inherited by each accepted connection: the bytes a capped
    // connection has taken but not yet passed on stay few, as behind a policer, instead of the
    // megabytes TCP's autotuning would let pile up here.
    const int receive_buffer = kReceiveBuffer;
    ::setsockopt(listener_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    auto addr = loopback(0);
    socklen_t len = sizeof addr;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_, 64) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        const int saved = errno;
        ::close(listener_);
        errno = saved;
        fail("listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
}

LaneShaper::~LaneShaper() {
    stopping_ = true;
    acceptor_.join();
    ::close(listener_);
    std::vector<std::thread> threads;
    {
        std::lock_guard lock(mutex_);
        for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
        threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
    for (int fd : fds_) ::close(fd);
}

void LaneShaper::accept_loop() {
    unsigned accepted = 0;
    while (!stopping_) {
        pollfd p{listener_, POLLIN, 0};
        if (::poll(&p, 1, kAcceptPollMs) <= 0) continue;
        const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) continue;
        const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const auto target = loopback(target_port_);
        if (server < 0 ||
            ::connect(server, reinterpret_cast<const sockaddr*>(&target), sizeof target) != 0) {
            // The proxy sees its connection end, as if the cache were down, and retries.
            ::close(client);
            if (server >= 0) ::close(server);
            continue;
        }
        for (int fd : {client, server}) {
            const int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        unsigned mbps = shaping_.every_mbps;
        if (accepted++ == 0 && shaping_.first_mbps > 0) mbps = shaping_.first_mbps;
        std::lock_guard lock(mutex_);
        fds_.insert(fds_.end(), {client, server});
        threads_.emplace_back([this, client, server, mbps] { relay(client, server, mbps); });
        threads_.emplace_back([this, client, server] { relay(server, client, 0); });
    }
}

// Copies `from` to `to` until either ends; with a cap, no faster than `mbps` on average since
// the first byte (the budget does not build up while the connection is idle for long).
void LaneShaper::relay(int from, int to, unsigned mbps) {
    std::vector<char> buffer(kChunk);
    const double bytes_per_second = static_cast<double>(mbps) * 1e6;
    auto start = Clock::now();
    double sent = 0;
    for (;;) {
        const ssize_t n = ::recv(from, buffer.data(), buffer.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (mbps > 0) {
            auto now = Clock::now();
            const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(sent / bytes_per_second));
            if (due > now) {
                std::this_thread::sleep_until(due);
            } else if (now - due > std::chrono::milliseconds(100)) {
                start = now;  // idle: start a new budget instead of bursting
                sent = 0;
            }
            sent += static_cast<double>(n);
        }
        if (!write_all(to, buffer.data(), static_cast<std::size_t>(n))) break;
    }
    // The other direction ends too, as when a real path breaks.
    ::shutdown(from, SHUT_RDWR);
    ::shutdown(to, SHUT_RDWR);
}

}  // namespace imgx::bench
