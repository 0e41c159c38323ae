// How img-ctl shows daemon answers: tables, JSON, progress lines.
#pragma once

#include <string>

#include "control.pb.h"
#include "progress.hpp"

namespace imgx::ctl {

std::string status_table(const control::Response& response);
std::string to_json(const control::Response& response);

}  // namespace imgx::ctl
