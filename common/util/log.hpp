// Logging set-up shared by the daemons and img-ctl (spdlog to stderr).
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace imgx {

// Throws std::invalid_argument for a level name spdlog does not know.
spdlog::level::level_enum parse_log_level(std::string_view name);

// Installs the default logger: stderr, one line per event, prefixed with `program`.
void setup_logging(std::string_view program, spdlog::level::level_enum level);

}  // namespace imgx
