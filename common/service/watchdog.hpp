// Feeds the service manager's watchdog from the event loop, so a stuck loop gets the daemon
// restarted.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <optional>

namespace imgx {

class Watchdog {
  public:
    explicit Watchdog(const boost::asio::any_io_executor& ex) : timer_(ex) {}

    // When the service manager asked for a watchdog (WatchdogSec=), sends WATCHDOG=1 now and
    // then every half interval from a timer on the executor. Returns the interval, if any.
    std::optional<std::chrono::microseconds> start();
    void stop();

  private:
    void schedule();

    boost::asio::steady_timer timer_;
    std::chrono::microseconds period_{0};
};

}  // namespace imgx
