// Log level and restart-only settings on reload.
#include "service/reload_notes.hpp"

#include <spdlog/spdlog.h>

#include "config/setting_values.hpp"

namespace imgx {

void apply_log_level(spdlog::level::level_enum before, spdlog::level::level_enum after) {
    spdlog::default_logger()->set_level(after);
    if (before != after)
        spdlog::log(std::max(after, spdlog::level::info), "reload: log level {} (was {})",
                    config::log_level_name(after), config::log_level_name(before));
}

void note_restart_needed(const std::vector<config::ChangedSetting>& changed) {
    for (const auto& s : changed)
        spdlog::warn(
            "reload: '{}' changed to {} but takes effect only at the next restart (still {})",
            s.key, s.configured, s.running);
}

}  // namespace imgx
