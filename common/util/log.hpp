// Logging shared by the daemons: spdlog to stderr, or to the journal with structured fields.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace imgx {

// What a log line concerns. Under systemd each non-empty field becomes a journal field
// (SNAPSHOT=, IMAGE=, PEER=); on stderr the message already names them and they are not repeated.
struct LogFields {
    std::string_view snapshot;
    std::string_view image;
    std::string_view peer;
};

namespace detail {

// The fields of the spdlog call in progress on this thread, or nullptr.
const LogFields* current_log_fields() noexcept;

// Makes `fields` visible to the sinks for the duration of one synchronous spdlog call.
class ScopedLogFields {
  public:
    explicit ScopedLogFields(const LogFields& fields) noexcept;
    ~ScopedLogFields();
    ScopedLogFields(const ScopedLogFields&) = delete;
    ScopedLogFields& operator=(const ScopedLogFields&) = delete;

  private:
    const LogFields* previous_;
};

}  // namespace detail

// One log line with its fields: log_info({.snapshot = id, .peer = peer}, "...", args...).
template <typename... Args>
void log_with(spdlog::level::level_enum level, const LogFields& fields,
              spdlog::format_string_t<Args...> format, Args&&... args) {
    auto* logger = spdlog::default_logger_raw();
    if (!logger->should_log(level)) return;
    detail::ScopedLogFields scope(fields);
    logger->log(level, format, std::forward<Args>(args)...);
}
template <typename... Args>
void log_debug(const LogFields& fields, spdlog::format_string_t<Args...> format, Args&&... args) {
    log_with(spdlog::level::debug, fields, format, std::forward<Args>(args)...);
}
template <typename... Args>
void log_info(const LogFields& fields, spdlog::format_string_t<Args...> format, Args&&... args) {
    log_with(spdlog::level::info, fields, format, std::forward<Args>(args)...);
}
template <typename... Args>
void log_warn(const LogFields& fields, spdlog::format_string_t<Args...> format, Args&&... args) {
    log_with(spdlog::level::warn, fields, format, std::forward<Args>(args)...);
}
template <typename... Args>
void log_error(const LogFields& fields, spdlog::format_string_t<Args...> format, Args&&... args) {
    log_with(spdlog::level::err, fields, format, std::forward<Args>(args)...);
}

// "N files, B bytes in S s (R MB/s)": the end of the per-snapshot summary lines of both daemons.
std::string describe_transfer(std::uint64_t files, std::uint64_t bytes, double seconds);

// Throws std::invalid_argument for a level name spdlog does not know.
spdlog::level::level_enum parse_log_level(std::string_view name);

// Installs the default logger, prefixed with `program`: the journal when stderr is systemd's
// journal stream (see stderr_is_journal), otherwise stderr with time stamps.
void setup_logging(std::string_view program, spdlog::level::level_enum level);

}  // namespace imgx
