// Daemons under a fake service manager, for the notify, reload, activation and drain tests.
#include "support/service_daemon.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <cstring>
#include <iostream>
#include <stdexcept>

#include "support/test_status.hpp"

namespace imgtest {

namespace {

constexpr auto kStartupTimeout = seconds(10);
constexpr auto kStopGrace = seconds(10);
constexpr auto kPoll = milliseconds(100);

void check_call(bool ok, const std::string& what) {
    if (!ok) throw std::runtime_error(what + ": " + std::strerror(errno));
}

}  // namespace

imgx::UniqueFd listening_tcp(std::uint16_t& port) {
    imgx::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    check_call(::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0,
               "bind 127.0.0.1:0");
    check_call(::listen(fd.get(), 16) == 0, "listen");
    check_call(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) == 0,
               "getsockname");
    port = ntohs(address.sin_port);
    return fd;
}

imgx::UniqueFd listening_unix(const std::string& path) {
    imgx::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path) throw std::runtime_error("path too long: " + path);
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    check_call(::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0,
               "bind " + path);
    check_call(::listen(fd.get(), 16) == 0, "listen " + path);
    return fd;
}

ServiceDaemon::ServiceDaemon(const std::string& dir, const std::string& name,
                             const std::vector<std::string>& argv, ServiceEnvironment service,
                             bool wait_ready)
    : name_(name), notify_(dir + "/" + name + ".notify") {
    service.env.push_back(notify_.env());
    child_ = std::make_unique<ChildProcess>(argv, dir + "/" + name + ".log", service);
    if (!wait_ready) return;
    const auto deadline = deadline_in(kStartupTimeout);
    while (!notify_.wait_for("READY=1", std::min(deadline, deadline_in(kPoll)))) {
        if (!child_->running() || Clock::now() >= deadline)
            throw std::runtime_error(name + " sent no READY=1 (" + child_->describe() +
                                     "); log:\n" + log());
    }
}

ServiceDaemon::~ServiceDaemon() {
    if (child_->running()) child_->stop(kStopGrace);
    if (current_test_failed())
        std::cout << "----- " << name_ << " log -----\n"
                  << log() << "----- " << name_ << " notify messages -----\n"
                  << notify_.history();
}

void ServiceDaemon::signal(int signo) { ::kill(child_->pid(), signo); }

int ServiceDaemon::wait_exit_status(Deadline deadline) {
    if (!child_->wait_exit(deadline)) return -1;
    const int status = *child_->wait_status();
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ServiceDaemon::log() const { return read_text_file(child_->log_path()); }

}  // namespace imgtest
