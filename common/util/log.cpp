// spdlog set-up: the sink (stderr or the journal) and the per-call fields.
#include "util/log.hpp"

#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <stdexcept>
#include <string>

#include "util/journal_sink.hpp"
#include "util/names.hpp"

namespace imgx {

namespace detail {

namespace {
thread_local const LogFields* t_fields = nullptr;
}  // namespace

const LogFields* current_log_fields() noexcept { return t_fields; }

ScopedLogFields::ScopedLogFields(const LogFields& fields) noexcept : previous_(t_fields) {
    t_fields = &fields;
}

ScopedLogFields::~ScopedLogFields() { t_fields = previous_; }

}  // namespace detail

std::string describe_transfer(std::uint64_t files, std::uint64_t bytes, double seconds) {
    const double rate = seconds > 0 ? static_cast<double>(bytes) / seconds / 1e6 : 0.0;
    return fmt::format("{} files, {} bytes in {:.3f} s ({:.1f} MB/s)", files, bytes, seconds, rate);
}

spdlog::level::level_enum parse_log_level(std::string_view name) {
    static constexpr std::string_view kNames[] = {"trace", "debug",    "info", "warning",
                                                  "error", "critical", "off"};
    for (std::size_t i = 0; i < std::size(kNames); ++i)
        if (name == kNames[i]) return static_cast<spdlog::level::level_enum>(i);
    if (name == "warn") return spdlog::level::warn;
    throw std::invalid_argument("unknown log level '" + printable(name) +
                                "' (trace, debug, info, warning, error, critical, off)");
}

void setup_logging(std::string_view program, spdlog::level::level_enum level) {
    std::shared_ptr<spdlog::logger> logger;
    if (stderr_is_journal()) {
        // The journal stamps time, host and identifier itself; the sink sends the bare message.
        auto sink = std::make_shared<JournalSink>(std::string(program), sd_journal_backend());
        logger = std::make_shared<spdlog::logger>(std::string(program), std::move(sink));
    } else {
        logger = spdlog::stderr_logger_mt(std::string(program));
        logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %n: %l: %v");
    }
    logger->set_level(level);
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace imgx
