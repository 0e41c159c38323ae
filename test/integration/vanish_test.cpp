// CRIU-like clients that vanish in the middle of a file (their process killed: every descriptor
// closed at once), while another transfer runs at the same time.
#include <catch2/catch.hpp>
#include <future>

#include "support/content.hpp"
#include "support/criu_client.hpp"
#include "support/daemon_pair.hpp"
#include "support/generated_dump.hpp"
#include "support/pipe_writer.hpp"

using namespace imgtest;

namespace {

constexpr auto kTimeout = seconds(20);

}  // namespace

// The stream protocol has no end marker: EOF on the socket and on every pipe is how both a
// finished and a killed CRIU end. But CRIU writes inventory.img last, and only when its dump
// succeeded, so a dump that ends without it failed (docs/security.md).
TEST_CASE(
    "fault: a stream dump client vanishes mid-file before inventory.img -> failed on both daemons, "
    "never served; a parallel dump is undisturbed",
    "[fault]") {
    DaemonPair pair({.snapshots = {"job1", "good"}});
    const auto good_files = generate_files("good", 81, 16);
    auto good_dump = std::async(std::launch::async, [&] {
        return dump_files(pair.capture_dir("good"), good_files, deadline_in(seconds(60)));
    });

    const auto pages = make_content(82, 1 << 20);
    const std::size_t written = 100'000;
    {
        StreamDumpSession dump(pair.capture_dir("job1"));
        REQUIRE(
            write_and_close(dump.announce("core-1.img"), "core", deadline_in(kTimeout)).status ==
            IoStatus::ok);
        auto pipe = dump.announce("pages-1.img");
        make_nonblocking(pipe.get());
        REQUIRE(
            write_all(pipe.get(), std::string_view(pages).substr(0, written), deadline_in(kTimeout))
                .status == IoStatus::ok);
        dump.close();  // the socket and the pipe go away together, as when CRIU is killed
    }

    auto good_problem = good_dump.get();
    INFO(good_problem);
    CHECK(good_problem.empty());
    auto restored = restore_and_compare(pair.serve_dir("good"), good_files, {"memfd.img"},
                                        deadline_in(kTimeout));
    INFO(restored);
    CHECK(restored.empty());

    INFO(pair.logs());
    for (auto side : {Side::proxy, Side::cache})
        CHECK(pair.ctl(side, {"wait", "job1", "--timeout", "20"}, seconds(30)).exit_status == 1);
    CHECK(pair.logs().find("without inventory.img") != std::string::npos);
    StreamRestoreSession restore(pair.serve_dir("job1"));
    std::string got;
    CHECK(to_string(restore.fetch("core-1.img", got, deadline_in(kTimeout))) ==
          to_string(Answer::closed));
}

TEST_CASE(
    "fault: a restore client vanishes mid-read -> a restore of the same file at the same time and "
    "a later "
    "restore get every byte",
    "[fault]") {
    DaemonPair pair;
    auto files = generate_files("img", 83, 4);
    files.push_back({"pages-1.img", make_content(84, 8 << 20)});  // far more than a pipe holds
    auto dumped = dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout));
    INFO(dumped);
    REQUIRE(dumped.empty());

    StreamRestoreSession steady(pair.serve_dir("job1"));
    auto steady_reply = steady.request("pages-1.img", deadline_in(kTimeout));
    REQUIRE(steady_reply.answer == Answer::exists);
    std::string first(64 * 1024, '\0');
    REQUIRE(read_exact(steady_reply.pipe.get(), first.data(), first.size(), deadline_in(kTimeout))
                .status == IoStatus::ok);
    {
        StreamRestoreSession vanishing(pair.serve_dir("job1"));
        auto reply = vanishing.request("pages-1.img", deadline_in(kTimeout));
        REQUIRE(reply.answer == Answer::exists);
        char some[4096];
        REQUIRE(read_exact(reply.pipe.get(), some, sizeof some, deadline_in(kTimeout)).status ==
                IoStatus::ok);
    }  // pipe and socket closed mid-file

    auto rest = read_to_eof(steady_reply.pipe.get(), deadline_in(kTimeout));
    CHECK(to_string(rest.result.status) == to_string(IoStatus::ok));
    CHECK((first + rest.data) == files.back().content);
    auto restored =
        restore_and_compare(pair.serve_dir("job1"), files, {"memfd.img"}, deadline_in(kTimeout));
    INFO(restored);
    CHECK(restored.empty());
    CHECK(pair.running(Side::cache));
}
