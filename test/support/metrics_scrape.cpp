// Loopback HTTP scrapes of the daemons' /metrics endpoints.
#include "support/metrics_scrape.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <regex>

#include "support/daemon_waits.hpp"
#include "support/log_wait.hpp"

namespace imgtest {

std::uint16_t metrics_port(DaemonPair& pair, Side side) {
    // The daemon may log it just after the harness saw it ready: its sockets come first.
    const std::regex line(R"(metrics on 127\.0\.0\.1:(\d+))");
    const auto found = wait_for_log_line(pair, side, line, deadline_in(seconds(10)));
    std::smatch match;
    if (!found || !std::regex_search(*found, match, line)) return 0;
    return static_cast<std::uint16_t>(std::stoi(match[1]));
}

imgx::UniqueFd connect_loopback(std::uint16_t port) {
    imgx::UniqueFd socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(socket.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        socket.reset();
    return socket;
}

std::string ask(std::uint16_t port, const std::string& request, Clock::duration timeout) {
    const imgx::UniqueFd socket = connect_loopback(port);
    if (!socket) return "(cannot connect)";
    const auto deadline = deadline_in(timeout);
    if (write_all(socket.get(), request, deadline).status != IoStatus::ok) return "(cannot send)";
    return read_to_eof(socket.get(), deadline).data;
}

std::string get(std::uint16_t port, const std::string& path) {
    return ask(port, "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
}

std::string body_of(const std::string& response) {
    const auto end = response.find("\r\n\r\n");
    return end == std::string::npos ? std::string() : response.substr(end + 4);
}

std::optional<double> value_of(const std::string& exposition, const std::string& series) {
    const std::string prefix = "\n" + series + " ";
    const auto at = ("\n" + exposition).find(prefix);
    if (at == std::string::npos) return std::nullopt;
    return std::stod(exposition.substr(at + prefix.size() - 1));
}

std::string scrape_until(std::uint16_t port, const std::string& series, double expected) {
    // A feed to CRIU ends just after CRIU read its last byte: the counters follow shortly.
    std::string text;
    poll_until(
        [&] {
            text = scrape(port);
            return value_of(text, series) == expected;
        },
        deadline_in(seconds(10)));
    return text;
}

}  // namespace imgtest
