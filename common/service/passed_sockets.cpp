// sd_listen_fds_with_names, checked: each passed descriptor must be the kind of socket its name
// says.
#include "service/passed_sockets.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace imgx {

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

std::optional<UniqueFd> PassedSockets::take_tcp_listener(std::string_view name) {
    auto passed = take(name);
    if (!passed) return std::nullopt;
    auto& [number, fd] = *passed;
    if (sd_is_socket_inet(fd.get(), AF_UNSPEC, SOCK_STREAM, /*listening=*/1, /*port=*/0) <= 0)
        throw std::runtime_error(
            "socket activation: fd " + std::to_string(number) + " named '" + std::string(name) +
            "' is not a listening TCP socket (ListenStream= with an address or port)");
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
    return std::move(fd);
}

}  // namespace imgx
