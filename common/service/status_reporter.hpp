// The one-line STATUS= summary a daemon shows in `systemctl status`, refreshed from the event loop.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace imgx {

// What a daemon is doing at one moment.
struct ServiceLoad {
    std::size_t active = 0;   // snapshots being transferred
    std::uint64_t bytes = 0;  // bytes of the snapshots the daemon holds or tracks
    std::string note;         // daemon-specific state, e.g. the link's
};

// "2 active snapshots, 512.0 MiB, 85.3 MiB/s; link connected to dest:7411"
std::string format_status(const ServiceLoad& load, double bytes_per_second);

class StatusReporter {
  public:
    StatusReporter(const boost::asio::any_io_executor& ex, std::function<ServiceLoad()> sample);

    // Sends a STATUS= line now, then every kRefresh and whenever the number of active
    // snapshots changes (looked at every second).
    void start();
    void stop();
    // Sends a line now (`prefix` first, e.g. "draining: ").
    void refresh(const std::string& prefix = {});

  private:
    void schedule();

    boost::asio::steady_timer timer_;
    std::function<ServiceLoad()> sample_;
    std::string prefix_;
    ServiceLoad last_;
    std::chrono::steady_clock::time_point last_sent_{};
};

}  // namespace imgx
