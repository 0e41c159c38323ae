// Daemons under a fake service manager, for the notify, reload, activation and drain tests.
#include "support/service_daemon.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <iostream>
#include <stdexcept>

#include "support/test_status.hpp"

namespace imgtest {

namespace {

constexpr auto kStartupTimeout = seconds(10);
constexpr auto kStopGrace = seconds(10);
constexpr auto kPoll = milliseconds(100);

}  // namespace

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
