// Messages to the service manager over NOTIFY_SOCKET (each a no-op when it is not set).
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace imgx {

void notify_ready();
void notify_stopping();
// RELOADING=1 with MONOTONIC_USEC=, the form systemd 253 and later expect for Type=notify-reload.
void notify_reloading();
void notify_status(std::string_view line);
void notify_watchdog();

// The watchdog interval the service manager asked for (WATCHDOG_USEC, for this process when
// WATCHDOG_PID is set), or nothing when there is no watchdog.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace imgx
