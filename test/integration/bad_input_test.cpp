// Malformed CRIU input closes only that connection and fails only that snapshot.
#include <fcntl.h>

#include <catch2/catch.hpp>
#include <future>

#include "criu/fd_passing.hpp"
#include "criu/stream_codec.hpp"
#include "support/criu_client.hpp"
#include "support/daemon_pair.hpp"
#include "support/generated_dump.hpp"
#include "support/pipe_writer.hpp"
#include "support/trace_manifest.hpp"

using namespace imgtest;

namespace {

constexpr auto kTimeout = seconds(20);

struct BadCase {
    const char* id;
    const char* what;
    std::string bytes;  // sent on the capture socket after one good file
};

std::vector<BadCase> bad_cases() {
    return {
        {"oversize", "a frame length of 1 MiB", hex_decode("00001000") + std::string(64, 'x')},
        {"garbage", "a frame whose body is not protobuf", hex_decode("05000000ffffffffff")},
        {"empty", "a frame lacking the required filename", hex_decode("00000000")},
        {"dotdot", "a request for ../x", imgx::criu::encode_stream_request("../x")},
        {"slash", "a request for a/b", imgx::criu::encode_stream_request("a/b")},
    };
}

// A restore of a failed snapshot: the cache must close the connection, not answer.
std::string restore_answer(const std::string& serve_dir, const std::string& name) {
    StreamRestoreSession restore(serve_dir);
    return std::string(to_string(restore.request(name, deadline_in(kTimeout)).answer));
}

}  // namespace

TEST_CASE(
    "fault: malformed dump input (oversized frame, not protobuf, no name, ../x, a/b) -> that "
    "connection is "
    "closed, that snapshot fails; a parallel dump completes",
    "[fault]") {
    PairOptions options;
    options.snapshots = {"good"};
    for (const auto& c : bad_cases()) options.snapshots.push_back(c.id);
    DaemonPair pair(options);

    const auto good_files = generate_files("good", 31, 16);
    auto good_dump = std::async(std::launch::async, [&] {
        return dump_files(pair.capture_dir("good"), good_files, deadline_in(seconds(60)));
    });

    for (const auto& c : bad_cases()) {
        INFO("bad input: " << c.what);
        StreamDumpSession dump(pair.capture_dir(c.id));
        REQUIRE(
            write_and_close(dump.announce("inventory.img"), "inv", deadline_in(kTimeout)).status ==
            IoStatus::ok);
        auto open_pipe = dump.announce("pages-1.img");
        REQUIRE(write_all(open_pipe.get(), "partial", deadline_in(kTimeout)).status ==
                IoStatus::ok);
        dump.send_raw(c.bytes);
        CHECK(dump.closed_by_daemon(deadline_in(kTimeout)));
    }

    auto good_problem = good_dump.get();
    INFO(good_problem);
    CHECK(good_problem.empty());

    for (const auto& c : bad_cases()) {
        INFO("bad input: " << c.what);
        // A name the dump never wrote: "false" would claim the dump completed.
        CHECK(restore_answer(pair.serve_dir(c.id), "memfd.img") == to_string(Answer::closed));
        // A file that did arrive intact is not served from a failed snapshot either.
        CHECK(restore_answer(pair.serve_dir(c.id), "inventory.img") == to_string(Answer::closed));
        CHECK(restore_answer(pair.serve_dir(c.id), "pages-1.img") == to_string(Answer::closed));
    }
    auto restored = restore_and_compare(pair.serve_dir("good"), good_files, {"memfd.img"},
                                        deadline_in(kTimeout));
    INFO(restored);
    CHECK(restored.empty());
    CHECK(pair.running(Side::proxy));
    CHECK(pair.running(Side::cache));
}

TEST_CASE(
    "fault: a dump client closes its socket between a request and its pipe -> the snapshot fails, "
    "its "
    "restores are closed; another dump completes",
    "[fault]") {
    DaemonPair pair({.snapshots = {"job1", "good"}});
    {
        StreamDumpSession dump(pair.capture_dir("job1"));
        REQUIRE(
            write_and_close(dump.announce("inventory.img"), "inv", deadline_in(kTimeout)).status ==
            IoStatus::ok);
        dump.send_raw(imgx::criu::encode_stream_request("pages-1.img"));
        dump.close();  // no fd message follows the request
    }
    CHECK(restore_answer(pair.serve_dir("job1"), "memfd.img") == to_string(Answer::closed));
    CHECK(restore_answer(pair.serve_dir("job1"), "inventory.img") == to_string(Answer::closed));

    const auto files = generate_files("good", 32, 6);
    auto dumped = dump_files(pair.capture_dir("good"), files, deadline_in(kTimeout));
    INFO(dumped);
    REQUIRE(dumped.empty());
    auto restored = restore_and_compare(pair.serve_dir("good"), files, {}, deadline_in(kTimeout));
    INFO(restored);
    CHECK(restored.empty());
}

TEST_CASE(
    "fault: a dump client passes a descriptor that is not a pipe -> it is disconnected and the "
    "snapshot fails",
    "[fault]") {
    DaemonPair pair({.snapshots = {"job1"}});
    StreamDumpSession dump(pair.capture_dir("job1"));
    dump.send_raw(imgx::criu::encode_stream_request("inventory.img"));
    imgx::UniqueFd not_a_pipe(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    REQUIRE(not_a_pipe);
    imgx::criu::send_fd_blocking(dump.fd(), not_a_pipe.get());
    CHECK(dump.closed_by_daemon(deadline_in(kTimeout)));
    CHECK(restore_answer(pair.serve_dir("job1"), "memfd.img") == to_string(Answer::closed));
}

TEST_CASE(
    "fault: malformed restore requests -> only that restore connection is closed; the snapshot is "
    "still "
    "served",
    "[fault]") {
    DaemonPair pair({.snapshots = {"job1"}});
    const auto files = generate_files("img", 33, 4);
    auto dumped = dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout));
    INFO(dumped);
    REQUIRE(dumped.empty());
    for (const auto& bytes :
         {hex_decode("00001000") + std::string(64, 'x'), hex_decode("05000000ffffffffff"),
          imgx::criu::encode_stream_request("../x")}) {
        INFO("restore request bytes " << hex_encode(bytes.substr(0, 16)));
        StreamRestoreSession bad(pair.serve_dir("job1"));
        bad.send_raw(bytes);
        CHECK(to_string(bad.read_reply(deadline_in(kTimeout)).answer) == to_string(Answer::closed));
    }
    auto restored =
        restore_and_compare(pair.serve_dir("job1"), files, {"memfd.img"}, deadline_in(kTimeout));
    INFO(restored);
    CHECK(restored.empty());
}

TEST_CASE(
    "fault: restore clients vanish while waiting, before taking their pipe, or mid-file -> the "
    "other restores "
    "get every file",
    "[fault]") {
    DaemonPair pair({.snapshots = {"job1"}});
    {
        StreamRestoreSession impatient(pair.serve_dir("job1"));
        impatient.send_request("inventory.img");
        CHECK(impatient.read_reply(deadline_in(milliseconds(500))).answer == Answer::no_answer);
    }  // gone while its request waits
    {
        // One that disconnects after being told exists, before passing its pipe.
        const auto files = generate_files("img", 34, 5);
        auto dumped = dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout));
        INFO(dumped);
        REQUIRE(dumped.empty());
        StreamRestoreSession rude(pair.serve_dir("job1"));
        rude.send_request(files[1].name);
        // Read the reply frame by hand so that no pipe is passed.
        std::string frame(6, '\0');
        CHECK(read_exact(rude.fd(), frame.data(), frame.size(), deadline_in(kTimeout)).status ==
              IoStatus::ok);
        CHECK(hex_encode(frame) == "020000000801");
        rude.close();
        // And one that closes its pipe's read end after a few bytes of a large file.
        StreamRestoreSession early_close(pair.serve_dir("job1"));
        auto reply = early_close.request(files[5 - 1].name, deadline_in(kTimeout));
        REQUIRE(reply.answer == Answer::exists);
        char few[10];
        (void)read_exact(reply.pipe.get(), few, sizeof few, deadline_in(kTimeout));
        reply.pipe.reset();
        early_close.close();

        auto restored = restore_and_compare(pair.serve_dir("job1"), files, {"memfd.img"},
                                            deadline_in(kTimeout));
        INFO(restored);
        CHECK(restored.empty());
    }
    CHECK(pair.running(Side::cache));
}
