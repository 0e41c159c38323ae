// Journal entries from spdlog messages, and the check that stderr is the journal.
#include "util/journal_sink.hpp"

#include <sys/stat.h>
#include <sys/uio.h>
// Without this, sd_journal_sendv() adds CODE_FILE/CODE_LINE of this file to every entry.
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

namespace imgx {

int journal_priority(spdlog::level::level_enum level) noexcept {
    switch (level) {
        case spdlog::level::trace:
        case spdlog::level::debug:
            return 7;  // LOG_DEBUG
        case spdlog::level::info:
            return 6;  // LOG_INFO
        case spdlog::level::warn:
            return 4;  // LOG_WARNING
        case spdlog::level::err:
            return 3;  // LOG_ERR
        case spdlog::level::critical:
            return 2;  // LOG_CRIT
        default:
            return 6;
    }
}

std::vector<std::string> journal_entry(std::string_view identifier, spdlog::level::level_enum level,
                                       std::string_view message, const LogFields* fields,
                                       const spdlog::source_loc& source) {
    std::vector<std::string> entry;
    entry.push_back("MESSAGE=" + std::string(message));
    entry.push_back("PRIORITY=" + std::to_string(journal_priority(level)));
    entry.push_back("SYSLOG_IDENTIFIER=" + std::string(identifier));
    if (fields) {
        const std::pair<const char*, std::string_view> named[] = {
            {"SNAPSHOT=", fields->snapshot}, {"IMAGE=", fields->image}, {"PEER=", fields->peer}};
        for (const auto& [key, value] : named)
            if (!value.empty()) entry.push_back(key + std::string(value));
    }
    if (!source.empty()) {
        entry.push_back("CODE_FILE=" + std::string(source.filename));
        entry.push_back("CODE_LINE=" + std::to_string(source.line));
        if (source.funcname && *source.funcname)
            entry.push_back("CODE_FUNC=" + std::string(source.funcname));
    }
    return entry;
}

bool is_journal_stream(const char* journal_stream, dev_t dev, ino_t ino) noexcept {
    if (!journal_stream || !*journal_stream) return false;
    char* end = nullptr;
    const unsigned long long stream_dev = std::strtoull(journal_stream, &end, 10);
    if (end == journal_stream || *end != ':') return false;
    const char* ino_text = end + 1;
    const unsigned long long stream_ino = std::strtoull(ino_text, &end, 10);
    if (end == ino_text || *end != '\0') return false;
    return stream_dev == static_cast<unsigned long long>(dev) &&
           stream_ino == static_cast<unsigned long long>(ino);
}

bool stderr_is_journal() noexcept {
    struct stat st {};
    if (::fstat(STDERR_FILENO, &st) != 0) return false;
    return is_journal_stream(std::getenv("JOURNAL_STREAM"), st.st_dev, st.st_ino);
}

JournalSend sd_journal_backend() {
    return [](const std::vector<std::string>& entry) {
        std::vector<iovec> parts;
        parts.reserve(entry.size());
        for (const auto& field : entry)
            parts.push_back({const_cast<char*>(field.data()), field.size()});
        // A lost log line cannot be reported anywhere better than the journal itself.
        (void)sd_journal_sendv(parts.data(), static_cast<int>(parts.size()));
    };
}

void JournalSink::sink_it_(const spdlog::details::log_msg& msg) {
    const std::string_view message(msg.payload.data(), msg.payload.size());
    send_(journal_entry(identifier_, msg.level, message, detail::current_log_fields(), msg.source));
}

}  // namespace imgx
