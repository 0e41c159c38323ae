// A spdlog sink writing to the systemd journal, with the SNAPSHOT=, IMAGE= and PEER= fields of
// LogFields.
#pragma once

#include <spdlog/sinks/base_sink.h>
#include <sys/types.h>

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "util/log.hpp"

namespace imgx {

// Delivers one journal entry given as "KEY=value" strings (sd_journal_sendv in the daemons,
// a recorder in the tests).
using JournalSend = std::function<void(const std::vector<std::string>& entry)>;

// syslog priority of a spdlog level (debug 7 ... critical 2).
int journal_priority(spdlog::level::level_enum level) noexcept;

// The journal entry of one log line: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, the non-empty
// fields (SNAPSHOT, IMAGE, PEER) when `fields` is given, then CODE_FILE, CODE_LINE and CODE_FUNC
// of the caller when the line carries its source location (the SPDLOG_* macros), else none:
// never the sink's own place.
std::vector<std::string> journal_entry(std::string_view identifier, spdlog::level::level_enum level,
                                       std::string_view message, const LogFields* fields,
                                       const spdlog::source_loc& source = {});

// True when JOURNAL_STREAM ("DEVICE:INODE", set by systemd) names the file stderr is connected
// to (`dev`, `ino` from fstat(2)): systemd's documented test that stderr goes to the journal.
bool is_journal_stream(const char* journal_stream, dev_t dev, ino_t ino) noexcept;
// is_journal_stream for this process's JOURNAL_STREAM and stderr.
bool stderr_is_journal() noexcept;

// Sends entries with sd_journal_sendv.
JournalSend sd_journal_backend();

class JournalSink final : public spdlog::sinks::base_sink<std::mutex> {
  public:
    JournalSink(std::string identifier, JournalSend send)
        : identifier_(std::move(identifier)), send_(std::move(send)) {}

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override;
    void flush_() override {}

  private:
    std::string identifier_;
    JournalSend send_;
};

}  // namespace imgx
