// sd_notify wrappers.
#include "util/notify.hpp"

#include <systemd/sd-daemon.h>

#include <string>

namespace imgx {

void notify_ready() { sd_notify(0, "READY=1"); }
void notify_stopping() { sd_notify(0, "STOPPING=1"); }
void notify_status(std::string_view line) { sd_notify(0, ("STATUS=" + std::string(line)).c_str()); }

}  // namespace imgx
