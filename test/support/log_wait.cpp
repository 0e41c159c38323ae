// Bounded polls of daemon log files, and loopback ports held by a test.
#include "support/log_wait.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/test_status.hpp"

namespace imgtest {

namespace {

constexpr auto kPollInterval = milliseconds(20);

// The complete lines of `path` from byte `from` on (a line still being written is left out).
std::string complete_lines_from(const std::string& path, std::size_t from) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {};
    in.seekg(static_cast<std::streamoff>(from));
    std::ostringstream text;
    text << in.rdbuf();
    std::string all = text.str();
    const auto last_newline = all.rfind('\n');
    return last_newline == std::string::npos ? std::string{} : all.substr(0, last_newline + 1);
}

}  // namespace

bool poll_until(const std::function<bool()>& until, Deadline deadline) {
    for (;;) {
        if (until()) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(kPollInterval);  // bounded poll: the deadline ends it
    }
}

std::size_t log_size(const std::string& path) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    return ec ? 0 : static_cast<std::size_t>(size);
}

std::optional<std::string> wait_for_log_line(const std::string& path, const std::regex& pattern,
                                             Deadline deadline, std::size_t from, std::size_t nth) {
    std::optional<std::string> found;
    std::size_t scanned = from;  // complete lines before this offset are counted in `matched`
    std::size_t matched = 0;
    poll_until(
        [&] {
            const std::string lines = complete_lines_from(path, scanned);
            scanned += lines.size();
            std::istringstream in(lines);
            for (std::string line; std::getline(in, line);) {
                if (std::regex_search(line, pattern) && ++matched == nth) {
                    found = line;
                    return true;
                }
            }
            return false;
        },
        deadline);
    return found;
}

std::uint16_t wait_for_link_port(const std::string& path, Deadline deadline, std::size_t from) {
    static const std::regex kReady(R"(ready: link on \S*:([0-9]+))");
    const auto line = wait_for_log_line(path, kReady, deadline, from);
    std::smatch match;
    if (!line || !std::regex_search(*line, match, kReady)) return 0;
    return static_cast<std::uint16_t>(std::stoul(match[1].str()));
}

ReservedPort::ReservedPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        if (fd_ >= 0) ::close(fd_);
        skip_test("cannot bind a loopback TCP socket on this machine");
    }
    port_ = ntohs(addr.sin_port);
}

ReservedPort::~ReservedPort() { ::close(fd_); }

std::string ReservedPort::address() const { return "127.0.0.1:" + std::to_string(port_); }

}  // namespace imgtest
