// sd_listen_fds_with_names, checked: each passed descriptor must be the kind of socket its name
// says.
#include "service/passed_sockets.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <cstdlib>
#include <cstring>
#include <set>
#include <stdexcept>

#include "util/cli.hpp"

namespace imgx {

namespace {

// The names from_environment took (it clears the environment, and a reload asks again).
std::set<std::string, std::less<>>& taken_names() {
    static std::set<std::string, std::less<>> names;
    return names;
}

// "127.0.0.1" and "::ffff:0:0" as addresses; a host name stays text.
bool same_host(const std::string& configured, const std::string& bound) {
    boost::system::error_code ec1, ec2;
    const auto a = boost::asio::ip::make_address(configured, ec1);
    const auto b = boost::asio::ip::make_address(bound, ec2);
    if (ec1 || ec2) return configured == bound;
    return a == b;
}

}  // namespace

bool socket_passed(std::string_view name) {
    if (taken_names().contains(name)) return true;
    const char* pid = std::getenv("LISTEN_PID");
    const char* names = std::getenv("LISTEN_FDNAMES");
    if (!pid || !names || std::strtol(pid, nullptr, 10) != ::getpid()) return false;
    std::string_view list(names);
    while (!list.empty()) {
        const auto colon = list.find(':');
        if (list.substr(0, colon) == name) return true;
        if (colon == std::string_view::npos) break;
        list.remove_prefix(colon + 1);
    }
    return false;
}

std::string bound_address(int fd) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
        return "unknown (" + std::string(std::strerror(errno)) + ")";
    char text[INET6_ADDRSTRLEN] = {};
    if (address.ss_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&address);
        ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
        return std::string(text) + ":" + std::to_string(ntohs(in->sin_port));
    }
    if (address.ss_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
        ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
        return "[" + std::string(text) + "]:" + std::to_string(ntohs(in6->sin6_port));
    }
    if (address.ss_family == AF_UNIX) {
        const auto* un = reinterpret_cast<const sockaddr_un*>(&address);
        return std::string(un->sun_path, strnlen(un->sun_path, sizeof un->sun_path));
    }
    return "family " + std::to_string(address.ss_family);
}

PassedSockets PassedSockets::from_environment(std::string_view daemon,
                                              const std::vector<std::string_view>& known) {
    PassedSockets out;
    out.daemon_ = std::string(daemon);
    char** names = nullptr;
    const int count = sd_listen_fds_with_names(/*unset_environment=*/1, &names);
    if (count < 0)
        throw std::runtime_error("socket activation: cannot read LISTEN_FDS: " +
                                 std::string(std::strerror(-count)));
    std::string problem;
    std::string known_list;
    for (auto k : known) known_list += (known_list.empty() ? "'" : ", '") + std::string(k) + "'";
    for (int i = 0; i < count; ++i) {
        const int number = SD_LISTEN_FDS_START + i;
        UniqueFd fd(number);
        ::fcntl(number, F_SETFD, FD_CLOEXEC);
        const std::string name = names && names[i] ? names[i] : "unknown";
        bool is_known = false;
        for (auto k : known) is_known = is_known || k == name;
        if (problem.empty() && !is_known)
            problem = "socket activation passed fd " + std::to_string(number) + " named '" + name +
                      "'; " + out.daemon_ + " takes sockets named " + known_list +
                      " (FileDescriptorName=)";
        else if (problem.empty() && out.fds_.contains(name))
            problem = "socket activation passed two sockets named '" + name + "' (fd " +
                      std::to_string(out.fds_.find(name)->second.first) + " and " +
                      std::to_string(number) + "); " + out.daemon_ + " takes one of each";
        else if (is_known)
            out.fds_.emplace(name, std::pair{number, std::move(fd)});
        if (is_known) taken_names().insert(name);
    }
    if (names) {
        for (int i = 0; i < count; ++i) std::free(names[i]);
        std::free(names);
    }
    if (!problem.empty()) throw std::runtime_error(problem);
    return out;
}

std::optional<std::pair<int, UniqueFd>> PassedSockets::take(std::string_view name) {
    auto it = fds_.find(name);
    if (it == fds_.end()) return std::nullopt;
    auto taken = std::move(it->second);
    fds_.erase(it);
    return taken;
}

std::optional<UniqueFd> PassedSockets::take_tcp_listener(std::string_view name,
                                                         const HostPort& configured,
                                                         std::string_view key) {
    auto passed = take(name);
    if (!passed) return std::nullopt;
    auto& [number, fd] = *passed;
    if (sd_is_socket_inet(fd.get(), AF_UNSPEC, SOCK_STREAM, /*listening=*/1, /*port=*/0) <= 0)
        throw std::runtime_error(
            "socket activation: fd " + std::to_string(number) + " named '" + std::string(name) +
            "' is not a listening TCP socket (ListenStream= with an address or port)");
    const std::string bound = bound_address(fd.get());
    if (!configured.host.empty()) {
        const HostPort actual = parse_host_port(bound, /*allow_port_zero=*/true);
        if (!same_host(configured.host, actual.host) ||
            (configured.port != 0 && configured.port != actual.port))
            throw UsageError("socket activation: systemd passed the '" + std::string(name) +
                             "' socket bound "
                             "to " +
                             bound + " but " + std::string(key) + " is " + configured.to_string() +
                             " (configuration or flags): make the socket unit's ListenStream= the "
                             "same address, or remove " +
                             std::string(key));
    }
    spdlog::info("socket activation: the '{}' socket (fd {}, {}) comes from systemd", name, number,
                 bound);
    return std::move(fd);
}

std::optional<UniqueFd> PassedSockets::take_unix_listener(std::string_view name) {
    auto passed = take(name);
    if (!passed) return std::nullopt;
    auto& [number, fd] = *passed;
    if (sd_is_socket_unix(fd.get(), SOCK_STREAM, /*listening=*/1, nullptr, 0) <= 0)
        throw std::runtime_error(
            "socket activation: fd " + std::to_string(number) + " named '" + std::string(name) +
            "' is not a listening UNIX stream socket (ListenStream= with a path)");
    spdlog::info("socket activation: the '{}' socket (fd {}, {}) comes from systemd", name, number,
                 bound_address(fd.get()));
    return std::move(fd);
}

}  // namespace imgx
