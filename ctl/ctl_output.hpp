// How img-ctl shows daemon answers: tables, JSON, progress lines.
#pragma once

#include "control.pb.h"

#include <string>

namespace imgx::ctl {

std::string human_bytes(double bytes);
std::string status_table(const control::Response& response);
std::string to_json(const control::Response& response);
// One progress line for a wait; `terminal` adds a bar meant to be redrawn in place.
std::string progress_line(const control::Response& response, bool terminal);

}  // namespace imgx::ctl
