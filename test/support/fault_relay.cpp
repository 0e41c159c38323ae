// The fault-injecting relay: one poll() loop over the listener and every relayed connection.
#include "support/fault_relay.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <list>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "link/link_codec.hpp"

namespace imgtest {

namespace {

constexpr std::size_t kReadBytes = 64 * 1024;
constexpr int kPollMillis = 20;

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

int listen_loopback(std::uint16_t& port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd, 16) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        throw std::runtime_error(std::string("fault relay: cannot listen on loopback: ") +
                                 std::strerror(errno));
    port = ntohs(addr.sin_port);
    set_nonblocking(fd);
    return fd;
}

int connect_loopback(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (fd < 0) return -1;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    set_nonblocking(fd);
    return fd;
}

// Follows the link's frames in one direction to find where image bytes are (docs/link-protocol.md).
class DataTracker {
  public:
    // Image bytes seen so far.
    [[nodiscard]] std::uint64_t data_seen() const { return data_seen_; }

    // Calls `on_data(index_in_chunk, data_offset)` for every image byte of `chunk`.
    template <typename OnData>
    void feed(std::string_view chunk, OnData&& on_data) {
        for (std::size_t i = 0; i < chunk.size(); ++i) {
            const auto byte = static_cast<unsigned char>(chunk[i]);
            if (preamble_left_ > 0) {
                --preamble_left_;
            } else if (header_fill_ < header_.size()) {
                header_[header_fill_++] = byte;
                if (header_fill_ == header_.size()) start_body();
            } else if (tag_left_ > 0) {
                --tag_left_;
                --body_left_;
            } else {
                if (is_data_) on_data(i, data_seen_++);
                --body_left_;
            }
            if (header_fill_ == header_.size() && body_left_ == 0 && tag_left_ == 0)
                header_fill_ = 0;
        }
    }

  private:
    void start_body() {
        body_left_ =
            header_[0] | header_[1] << 8 | header_[2] << 16 | std::uint32_t(header_[3]) << 24;
        const auto type = static_cast<imgx::link::FrameType>(header_[4]);
        is_data_ = imgx::link::is_data(type);
        tag_left_ =
            is_data_ ? std::min<std::uint64_t>(imgx::link::data_prefix_bytes(type), body_left_) : 0;
    }

    std::size_t preamble_left_ = imgx::link::kPreamble.size();
    std::array<unsigned char, imgx::link::kHeaderBytes> header_{};
    std::size_t header_fill_ = 0;
    std::uint64_t body_left_ = 0;
    std::uint64_t tag_left_ = 0;
    bool is_data_ = false;
    std::uint64_t data_seen_ = 0;
};

// Writes what `to` takes of `pending`; passes EOF on once all is written. False on error.
bool flush(std::string& pending, int to, bool eof, bool& shut) {
    if (!pending.empty()) {
        const auto n = ::write(to, pending.data(), pending.size());
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
        if (n > 0) pending.erase(0, static_cast<std::size_t>(n));
    }
    if (eof && pending.empty() && !shut) {
        ::shutdown(to, SHUT_WR);
        shut = true;
    }
    return true;
}

}  // namespace

struct FaultRelay::Link {
    int client = -1;  // img-proxyd
    int server = -1;  // img-cached
    int number = 0;   // counting accepted connections from 1
    std::string up;   // read from the proxy, not yet written to the cache
    std::string down;
    std::uint64_t up_read = 0;
    bool up_eof = false;
    bool down_eof = false;
    bool up_shut = false;
    bool down_shut = false;
    bool up_paused = false;                   // stalled by the fault
    bool stalled = false;                     // this is the connection the stall fault hit
    std::optional<std::uint64_t> cut_offset;  // cut_connections_at: where this connection is cut
    DataTracker tracker;

    void close_both() {
        if (client >= 0) ::close(client);
        if (server >= 0) ::close(server);
        client = server = -1;
    }
    [[nodiscard]] bool closed() const { return client < 0; }
};

FaultRelay::FaultRelay(std::uint16_t target_port) : target_port_(target_port) {
    listener_ = listen_loopback(port_);
    thread_ = std::thread([this] { run(); });
}

FaultRelay::~FaultRelay() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    ::close(listener_);
}

void FaultRelay::arm(Fault fault, std::uint64_t offset, bool relative) {
    std::lock_guard lock(mutex_);
    fault_ = fault;
    offset_ = offset;
    relative_ = relative;
    fault_link_ = 0;
    fault_first_ = fault_last_ = 0;
    fault_happened_ = false;
    stall_released_ = false;
}

void FaultRelay::corrupt_data_byte(std::uint64_t data_offset) {
    arm(Fault::corrupt, data_offset, false);
}
void FaultRelay::cut_at(std::uint64_t stream_offset) { arm(Fault::cut, stream_offset, false); }
void FaultRelay::stall_at(std::uint64_t stream_offset) { arm(Fault::stall, stream_offset, false); }
void FaultRelay::corrupt_data_byte_after(std::uint64_t n) { arm(Fault::corrupt, n, true); }
void FaultRelay::cut_after(std::uint64_t n) { arm(Fault::cut, n, true); }
void FaultRelay::stall_after(std::uint64_t n) { arm(Fault::stall, n, true); }

void FaultRelay::stall_first_of_connections_at(int first, int last, std::uint64_t stream_offset) {
    arm(Fault::stall, stream_offset, false);
    std::lock_guard lock(mutex_);
    fault_first_ = first;
    fault_last_ = last;
}

void FaultRelay::cut_connections_at(std::vector<std::uint64_t> stream_offsets) {
    std::lock_guard lock(mutex_);
    cuts_.assign(stream_offsets.begin(), stream_offsets.end());
    cuts_left_ = stream_offsets.size();
    fault_happened_ = stream_offsets.empty();
}

void FaultRelay::cut_connection_at(int number, std::uint64_t stream_offset) {
    cut_first_of_connections_at(number, number, stream_offset);
}

void FaultRelay::cut_first_of_connections_at(int first, int last, std::uint64_t stream_offset) {
    std::lock_guard lock(mutex_);
    cut_number_ = first;
    cut_number_last_ = last;
    cut_number_offset_ = stream_offset;
    cuts_left_ = 1;
    fault_happened_ = false;
}

void FaultRelay::disarm() {
    std::lock_guard lock(mutex_);
    fault_ = Fault::none;
    stall_released_ = true;
}

void FaultRelay::release_stall() { stall_released_ = true; }

bool FaultRelay::wait_for_fault(Deadline deadline) const {
    while (!fault_happened_) {
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(kPollMillis));  // bounded poll
    }
    return true;
}

// Proxy -> cache. False once the link is to be dropped.
bool FaultRelay::pump_up(Link& link, bool newest) {
    Fault fault;
    std::uint64_t offset;
    {
        std::lock_guard lock(mutex_);
        if (relative_ && newest) {
            offset_ += fault_ == Fault::corrupt ? link.tracker.data_seen() : link.up_read;
            relative_ = false;
            fault_link_ = link.number;
        }
        const bool in_range =
            fault_first_ == 0 || (link.number >= fault_first_ && link.number <= fault_last_);
        const bool applies =
            !relative_ && in_range && (fault_link_ == 0 || fault_link_ == link.number);
        fault = applies ? fault_ : Fault::none;
        offset = offset_;
    }
    const bool stream_fault = (fault == Fault::cut || fault == Fault::stall) && !fault_happened_;
    if (link.up.empty() && !link.up_eof) {
        std::size_t want = kReadBytes;
        if (link.cut_offset) {
            want = std::min<std::uint64_t>(
                want, *link.cut_offset - std::min(*link.cut_offset, link.up_read));
            if (want == 0) {
                std::lock_guard lock(mutex_);
                if (cuts_left_ > 0) {
                    if (--cuts_left_ == 0) fault_happened_ = true;
                    return false;
                }
                // Another connection of the range took the cut: this one passes untouched.
                link.cut_offset.reset();
                want = kReadBytes;
            }
        }
        if (stream_fault)
            want = std::min<std::uint64_t>(want, offset - std::min(offset, link.up_read));
        if (stream_fault && want == 0) {
            fault_happened_ = true;
            if (fault == Fault::cut) return false;
            link.stalled = true;
        }
        // A released stall is over for good: arming the next fault must not pause this link again.
        if (link.stalled && stall_released_) link.stalled = false;
        link.up_paused = link.stalled && !stall_released_;
        if (link.up_paused) want = 0;
        if (want > 0) {
            std::string chunk(want, '\0');
            const auto n = ::read(link.client, chunk.data(), chunk.size());
            if (n == 0) link.up_eof = true;
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
            if (n > 0) {
                chunk.resize(static_cast<std::size_t>(n));
                std::uint64_t data_bytes = 0;
                link.tracker.feed(chunk, [&](std::size_t index, std::uint64_t data_offset) {
                    ++data_bytes;
                    if (fault == Fault::corrupt && !fault_happened_ && data_offset == offset) {
                        chunk[index] = static_cast<char>(chunk[index] ^ 0x5a);
                        fault_happened_ = true;
                    }
                });
                data_relayed_ += data_bytes;
                link.up_read += static_cast<std::uint64_t>(n);
                link.up = std::move(chunk);
            }
        }
    }
    return flush(link.up, link.server, link.up_eof, link.up_shut);
}

// Cache -> proxy, untouched. False once the link is to be dropped.
bool FaultRelay::pump_down(Link& link) {
    if (link.down.empty() && !link.down_eof) {
        std::string chunk(kReadBytes, '\0');
        const auto n = ::read(link.server, chunk.data(), chunk.size());
        if (n == 0) link.down_eof = true;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
        if (n > 0) {
            chunk.resize(static_cast<std::size_t>(n));
            link.down = std::move(chunk);
        }
    }
    return flush(link.down, link.client, link.down_eof, link.down_shut);
}

void FaultRelay::run() {
    std::list<Link> links;
    while (!stop_) {
        std::vector<pollfd> fds{{listener_, POLLIN, 0}};
        for (const auto& link : links) {
            // Ask only for what the pumps can take, so poll() does not spin on unread data.
            const bool read_up = link.up.empty() && !link.up_eof && !link.up_paused;
            const bool read_down = link.down.empty() && !link.down_eof;
            fds.push_back(
                {link.client,
                 static_cast<short>((read_up ? POLLIN : 0) | (link.down.empty() ? 0 : POLLOUT)),
                 0});
            fds.push_back(
                {link.server,
                 static_cast<short>((read_down ? POLLIN : 0) | (link.up.empty() ? 0 : POLLOUT)),
                 0});
        }
        ::poll(fds.data(), fds.size(), kPollMillis);
        if (fds[0].revents & POLLIN) {
            const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            int server = -1;
            int number = 0;
            if (client >= 0) number = ++connections_;
            const bool refused = refuse_from_ > 0 && number >= refuse_from_;
            if (client >= 0 && !refused) server = connect_loopback(target_port_);
            if (client >= 0 && server < 0) {
                ::close(client);
            } else if (client >= 0) {
                auto& link = links.emplace_back();
                link.client = client;
                link.server = server;
                link.number = number;
                std::lock_guard lock(mutex_);
                if (!cuts_.empty()) {
                    link.cut_offset = cuts_.front();
                    cuts_.pop_front();
                } else if (cut_number_ != 0 && number >= cut_number_ &&
                           number <= cut_number_last_) {
                    link.cut_offset = cut_number_offset_;
                }
            }
        }
        if (cut_all_.exchange(false))
            for (auto& link : links) link.close_both();
        for (auto& link : links) {
            if (!pump_up(link, &link == &links.back()) || !pump_down(link) ||
                (link.up_shut && link.down_shut))
                link.close_both();
        }
        links.remove_if([](const Link& link) { return link.closed(); });
    }
    for (auto& link : links) link.close_both();
}

}  // namespace imgtest
