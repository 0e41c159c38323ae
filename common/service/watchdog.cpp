// Watchdog pings at half the interval the service manager set.
#include "service/watchdog.hpp"

#include "service/notify.hpp"

namespace imgx {

std::optional<std::chrono::microseconds> Watchdog::start() {
    auto interval = watchdog_interval();
    if (!interval) return std::nullopt;
    period_ = *interval / 2;
    notify_watchdog();
    schedule();
    return interval;
}

void Watchdog::stop() { timer_.cancel(); }

void Watchdog::schedule() {
    timer_.expires_after(period_);
    timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;  // stopped
        notify_watchdog();
        schedule();
    });
}

}  // namespace imgx
