// A daemon's life under a service manager: ready, status, watchdog, SIGHUP reload, SIGTERM drain.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "service/status_reporter.hpp"
#include "service/watchdog.hpp"

namespace imgx {

// What each daemon supplies; every hook runs on the io_context.
struct ServiceHooks {
    std::function<ServiceLoad()> load;
    // Re-reads the configuration and applies what can change at run time. Returns the new
    // shutdown grace period, or nothing when the new configuration is invalid: then it has
    // logged why and keeps the old one.
    std::function<std::optional<std::chrono::seconds>()> reload;
    // Closes every listener (endpoints, control socket, the link listener).
    std::function<void()> stop_accepting;
    // One line per transfer still in flight; empty when the daemon may exit.
    std::function<std::vector<std::string>()> in_flight;
    // Fails what is still in flight after the grace period, so that peers see a failed
    // snapshot rather than a lost one; returns once that has gone out.
    std::function<boost::asio::awaitable<void>()> fail_in_flight;
};

class ServiceLifecycle {
  public:
    ServiceLifecycle(boost::asio::io_context& io, std::string daemon, ServiceHooks hooks,
                     std::chrono::seconds shutdown_grace);

    // Call once every listener is bound: logs `ready_line`, sends READY=1, starts the status
    // line and the watchdog, and runs the io_context until the daemon has drained. Returns the
    // exit status: 0 after a drain, 1 when a second signal cut it short.
    int run(const std::string& ready_line);

  private:
    void wait_signal();
    void on_signal(int signo);
    void reload();
    boost::asio::awaitable<void> drain(int signo);
    void finish(int status);

    boost::asio::io_context& io_;
    std::string daemon_;
    ServiceHooks hooks_;
    std::chrono::seconds grace_;
    boost::asio::signal_set signals_;
    StatusReporter status_;
    Watchdog watchdog_;
    bool draining_ = false;
    int exit_status_ = 0;
};

}  // namespace imgx
