// A restore may start before or during its dump: requests wait for the file, never guess.
#include <catch2/catch.hpp>
#include <chrono>
#include <regex>

#include "support/content.hpp"
#include "support/criu_client.hpp"
#include "support/daemon_pair.hpp"
#include "support/log_wait.hpp"
#include "support/pipe_writer.hpp"

using namespace imgtest;

namespace {

// How long a request must stay unanswered to count as "waiting".
constexpr auto kStillWaiting = milliseconds(700);
constexpr auto kAnswerTimeout = seconds(20);

}  // namespace

TEST_CASE(
    "a restore that connects before the dump waits for inventory.img until the dump delivers it") {
    DaemonPair pair;
    StreamRestoreSession restore(pair.serve_dir("job1"));
    restore.send_request("inventory.img");
    CHECK(restore.read_reply(deadline_in(kStillWaiting)).answer == Answer::no_answer);

    const auto inventory = make_content(1, 86);
    const auto pages = make_content(2, 300'000);
    StreamDumpSession dump(pair.capture_dir("job1"));
    auto pages_pipe = dump.announce("pages-1.img");
    REQUIRE(write_and_close(std::move(pages_pipe), pages, deadline_in(kAnswerTimeout)).status ==
            IoStatus::ok);
    CHECK(restore.read_reply(deadline_in(kStillWaiting)).answer == Answer::no_answer);
    REQUIRE(write_and_close(dump.announce("inventory.img"), inventory, deadline_in(kAnswerTimeout))
                .status == IoStatus::ok);

    auto reply = restore.read_reply(deadline_in(kAnswerTimeout));
    REQUIRE(to_string(reply.answer) == to_string(Answer::exists));
    auto got = read_to_eof(reply.pipe.get(), deadline_in(kAnswerTimeout));
    REQUIRE(got.result.status == IoStatus::ok);
    CHECK(got.data == inventory);
    dump.close();

    std::string content;
    REQUIRE(restore.fetch("pages-1.img", content, deadline_in(kAnswerTimeout)) == Answer::exists);
    CHECK(describe_difference(pages, content) == "identical");
    CHECK(restore.request("pstree.img", deadline_in(kAnswerTimeout)).answer == Answer::missing);
}

TEST_CASE("a request for a file not in the dump is answered false only once the dump is complete") {
    DaemonPair pair;
    StreamDumpSession dump(pair.capture_dir("job1"));
    REQUIRE(write_and_close(dump.announce("inventory.img"), "inv", deadline_in(kAnswerTimeout))
                .status == IoStatus::ok);
    auto open_pipe = dump.announce("pages-1.img");  // the dump is not over while this is open
    dump.close();

    StreamRestoreSession restore(pair.serve_dir("job1"));
    std::string content;
    REQUIRE(restore.fetch("inventory.img", content, deadline_in(kAnswerTimeout)) == Answer::exists);
    CHECK(content == "inv");
    restore.send_request("memfd.img");
    CHECK(to_string(restore.read_reply(deadline_in(kStillWaiting)).answer) ==
          to_string(Answer::no_answer));

    open_pipe.reset();  // EOF of the last pipe: now the dump is complete
    CHECK(to_string(restore.read_reply(deadline_in(kAnswerTimeout)).answer) ==
          to_string(Answer::missing));
    CHECK(restore.fetch("pages-1.img", content, deadline_in(kAnswerTimeout)) == Answer::exists);
    CHECK(content.empty());
}

TEST_CASE("a request for a file still being written waits for its EOF and gets all of it") {
    DaemonPair pair;
    const auto pages = make_content(3, 1'000'000);
    StreamDumpSession dump(pair.capture_dir("job1"));
    auto pipe = dump.announce("pages-1.img");
    make_nonblocking(pipe.get());
    REQUIRE(write_all(pipe.get(), std::string_view(pages).substr(0, pages.size() / 2),
                      deadline_in(kAnswerTimeout))
                .status == IoStatus::ok);

    StreamRestoreSession restore(pair.serve_dir("job1"));
    restore.send_request("pages-1.img");
    CHECK(to_string(restore.read_reply(deadline_in(kStillWaiting)).answer) ==
          to_string(Answer::no_answer));

    REQUIRE(write_and_close(std::move(pipe), std::string_view(pages).substr(pages.size() / 2),
                            deadline_in(kAnswerTimeout))
                .status == IoStatus::ok);
    auto reply = restore.read_reply(deadline_in(kAnswerTimeout));
    REQUIRE(to_string(reply.answer) == to_string(Answer::exists));
    auto got = read_to_eof(reply.pipe.get(), deadline_in(kAnswerTimeout));
    REQUIRE(got.result.status == IoStatus::ok);
    CHECK(describe_difference(pages, got.data) == "identical");
    dump.close();
}

TEST_CASE(
    "a restore of an id no dump begins is closed after serve_wait_seconds (1 s), with a log line "
    "naming the id, CRIU and the wait") {
    PairOptions options;
    options.cache_args = {"--serve-wait", "1"};
    DaemonPair pair(options);
    const auto mark = log_size(pair.log_path(Side::cache));
    StreamRestoreSession restore(pair.serve_dir("job1"));
    const auto started = Clock::now();
    restore.send_request("inventory.img");
    CHECK(to_string(restore.read_reply(deadline_in(kAnswerTimeout)).answer) ==
          to_string(Answer::closed));
    const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
    CHECK(waited >= milliseconds(900));
    CHECK(waited < seconds(15));
    CHECK(wait_for_log_line(
        pair.log_path(Side::cache),
        std::regex(R"(restore of 'job1' by CRIU \(pid \d+ uid \d+\): no dump )"
                   R"(of snapshot 'job1' began within 1 s \(serve_wait_seconds\))"),
        deadline_in(kAnswerTimeout), mark));
}
