// Journal logging: priorities, the SNAPSHOT/IMAGE/PEER fields of a log call, and when the journal
// is chosen.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "util/journal_sink.hpp"
#include "util/log.hpp"

using namespace imgx;

namespace {

using Entry = std::vector<std::string>;

bool has(const Entry& entry, const std::string& field) {
    return std::find(entry.begin(), entry.end(), field) != entry.end();
}

bool has_key(const Entry& entry, const std::string& key) {
    return std::any_of(entry.begin(), entry.end(),
                       [&](const std::string& f) { return f.rfind(key + "=", 0) == 0; });
}

// A logger whose journal sink records entries instead of sending them; restores the old default.
struct RecordingLogger {
    std::vector<Entry> entries;
    std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();

    RecordingLogger() {
        auto sink = std::make_shared<JournalSink>("img-test",
                                                  [this](const Entry& e) { entries.push_back(e); });
        auto logger = std::make_shared<spdlog::logger>("img-test", std::move(sink));
        logger->set_level(spdlog::level::debug);
        spdlog::set_default_logger(std::move(logger));
    }
    ~RecordingLogger() { spdlog::set_default_logger(previous); }
};

}  // namespace

TEST_CASE("spdlog levels map to syslog priorities") {
    CHECK(journal_priority(spdlog::level::trace) == 7);
    CHECK(journal_priority(spdlog::level::debug) == 7);
    CHECK(journal_priority(spdlog::level::info) == 6);
    CHECK(journal_priority(spdlog::level::warn) == 4);
    CHECK(journal_priority(spdlog::level::err) == 3);
    CHECK(journal_priority(spdlog::level::critical) == 2);
}

TEST_CASE(
    "a journal entry carries the message, priority, identifier and only the non-empty fields") {
    const LogFields fields{.snapshot = "job1", .image = "", .peer = "10.0.0.2:7411"};
    auto entry = journal_entry("img-proxyd", spdlog::level::warn, "snapshot 'job1' slow", &fields);
    CHECK(entry.front() == "MESSAGE=snapshot 'job1' slow");
    CHECK(has(entry, "PRIORITY=4"));
    CHECK(has(entry, "SYSLOG_IDENTIFIER=img-proxyd"));
    CHECK(has(entry, "SNAPSHOT=job1"));
    CHECK(has(entry, "PEER=10.0.0.2:7411"));
    CHECK_FALSE(has_key(entry, "IMAGE"));

    auto plain = journal_entry("img-cached", spdlog::level::info, "ready", nullptr);
    CHECK(plain.size() == 3);
    CHECK_FALSE(has_key(plain, "SNAPSHOT"));
}

TEST_CASE("a journal entry names the caller's file and line when the line has them, else none") {
    const spdlog::source_loc caller{"../cached/link_session.cpp", 57, "run"};
    auto located = journal_entry("img-cached", spdlog::level::info, "up", nullptr, caller);
    CHECK(has(located, "CODE_FILE=../cached/link_session.cpp"));
    CHECK(has(located, "CODE_LINE=57"));
    CHECK(has(located, "CODE_FUNC=run"));
    // spdlog::info() and the like carry no location: no CODE_* field at all (the journal sink's
    // own file and line were added to every entry before).
    auto plain = journal_entry("img-cached", spdlog::level::info, "up", nullptr);
    CHECK_FALSE(has_key(plain, "CODE_FILE"));
    CHECK_FALSE(has_key(plain, "CODE_LINE"));
}

TEST_CASE("log_error sends its fields to the journal sink for that call only") {
    RecordingLogger log;
    log_error({.snapshot = "job7", .image = "pages-1.img", .peer = "pid 42"}, "file {} is corrupt",
              "pages-1.img");
    spdlog::info("no fields here");
    log_debug({.snapshot = "job8"}, "debug line");
    REQUIRE(log.entries.size() == 3);
    CHECK(has(log.entries[0], "MESSAGE=file pages-1.img is corrupt"));
    CHECK(has(log.entries[0], "PRIORITY=3"));
    CHECK(has(log.entries[0], "SNAPSHOT=job7"));
    CHECK(has(log.entries[0], "IMAGE=pages-1.img"));
    CHECK(has(log.entries[0], "PEER=pid 42"));
    // A plain spdlog call after it carries no fields left over from the one before.
    CHECK_FALSE(has_key(log.entries[1], "SNAPSHOT"));
    CHECK(has(log.entries[1], "PRIORITY=6"));
    CHECK(has(log.entries[2], "SNAPSHOT=job8"));
    CHECK(has(log.entries[2], "PRIORITY=7"));
}

TEST_CASE("a line below the logger's level is not sent") {
    RecordingLogger log;
    spdlog::default_logger()->set_level(spdlog::level::info);
    log_debug({.snapshot = "job1"}, "hidden");
    CHECK(log.entries.empty());
}

TEST_CASE("the journal is chosen only when JOURNAL_STREAM names stderr's device and inode") {
    CHECK(is_journal_stream("8:12345", 8, 12345));
    CHECK_FALSE(is_journal_stream("8:12345", 8, 12346));
    CHECK_FALSE(is_journal_stream("9:12345", 8, 12345));
    CHECK_FALSE(is_journal_stream(nullptr, 8, 12345));
    CHECK_FALSE(is_journal_stream("", 8, 12345));
    CHECK_FALSE(is_journal_stream("8", 8, 12345));
    CHECK_FALSE(is_journal_stream("8:", 8, 12345));
    CHECK_FALSE(is_journal_stream(":12345", 8, 12345));
    CHECK_FALSE(is_journal_stream("8:12345x", 8, 12345));
}

TEST_CASE("stderr_is_journal compares JOURNAL_STREAM with the real stderr") {
    struct stat st {};
    REQUIRE(::fstat(STDERR_FILENO, &st) == 0);
    const std::string matching = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    const std::string other = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1);
    REQUIRE(::setenv("JOURNAL_STREAM", matching.c_str(), 1) == 0);
    CHECK(stderr_is_journal());
    REQUIRE(::setenv("JOURNAL_STREAM", other.c_str(), 1) == 0);
    CHECK_FALSE(stderr_is_journal());
    REQUIRE(::unsetenv("JOURNAL_STREAM") == 0);
    CHECK_FALSE(stderr_is_journal());
}

TEST_CASE("the transfer summary gives files, bytes, duration and rate") {
    CHECK(describe_transfer(3, 5000000, 2.0) == "3 files, 5000000 bytes in 2.000 s (2.5 MB/s)");
    CHECK(describe_transfer(0, 0, 0.0) == "0 files, 0 bytes in 0.000 s (0.0 MB/s)");
}
