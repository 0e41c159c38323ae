// Readiness and status reports to the service manager (no-ops without NOTIFY_SOCKET).
#pragma once

#include <string_view>

namespace imgx {

void notify_ready();
void notify_stopping();
void notify_status(std::string_view line);

}  // namespace imgx
