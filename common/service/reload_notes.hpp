// Small steps both daemons take on reload: the log level, and telling which changes wait for a
// restart.
#pragma once

#include <spdlog/common.h>
#include <spdlog/spdlog.h>

#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/setting.hpp"

namespace imgx {

// Sets the level of the default logger; logs the change.
void apply_log_level(spdlog::level::level_enum before, spdlog::level::level_enum after);

// Logs a warning for each setting a reload read but cannot apply to the running daemon
// (config::restart_changes lists them).
void note_restart_needed(const std::vector<config::ChangedSetting>& changed);

// Runs `parse` (the start-up parse of the command line and files); nothing, with the error
// logged, when it throws: the caller keeps its running configuration.
template <typename Parse>
auto parse_for_reload(Parse parse) -> std::optional<decltype(parse())> {
    try {
        return parse();
    } catch (const std::exception& e) {
        spdlog::error("reload refused, the configuration stays as it was: {}", e.what());
        return std::nullopt;
    }
}

}  // namespace imgx
