// spdlog set-up.
#include "util/log.hpp"

#include "util/names.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include <stdexcept>
#include <string>

namespace imgx {

spdlog::level::level_enum parse_log_level(std::string_view name) {
    static constexpr std::string_view kNames[] = {"trace", "debug", "info", "warning",
                                                  "error", "critical", "off"};
    for (std::size_t i = 0; i < std::size(kNames); ++i)
        if (name == kNames[i]) return static_cast<spdlog::level::level_enum>(i);
    if (name == "warn") return spdlog::level::warn;
    throw std::invalid_argument("unknown log level '" + printable(name) +
                                "' (trace, debug, info, warning, error, critical, off)");
}

void setup_logging(std::string_view program, spdlog::level::level_enum level) {
    auto logger = spdlog::stderr_logger_mt(std::string(program));
    // Under systemd the journal adds its own time stamp; a terminal user wants one.
    logger->set_pattern(std::getenv("JOURNAL_STREAM") ? "%n: %l: %v" : "%Y-%m-%d %H:%M:%S.%e %n: %l: %v");
    logger->set_level(level);
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace imgx
