// What a restore sees: repeated and concurrent restores, empty files, duplicates, a newer dump.
#include <catch2/catch.hpp>
#include <future>
#include <thread>

#include "support/content.hpp"
#include "support/criu_client.hpp"
#include "support/daemon_pair.hpp"
#include "support/daemon_waits.hpp"
#include "support/generated_dump.hpp"
#include "support/pipe_writer.hpp"

using namespace imgtest;

namespace {

constexpr auto kTimeout = seconds(30);

void require_ok(const std::string& problem) {
    INFO(problem);
    REQUIRE(problem.empty());
}

}  // namespace

TEST_CASE("two restores of one snapshot at the same time both get every file") {
    DaemonPair pair;
    const auto files = generate_files("img", 7, 12);
    require_ok(dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout)));
    auto first = std::async(std::launch::async, [&] {
        return restore_and_compare(pair.serve_dir("job1"), files, {"memfd.img"},
                                   deadline_in(kTimeout));
    });
    auto second = std::async(std::launch::async, [&] {
        return restore_and_compare(pair.serve_dir("job1"), files, {"memfd.img"},
                                   deadline_in(kTimeout));
    });
    require_ok(first.get());
    require_ok(second.get());
}

TEST_CASE("the same snapshot can be restored twice in a row") {
    DaemonPair pair;
    const auto files = generate_files("img", 8, 10);
    require_ok(dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout)));
    require_ok(
        restore_and_compare(pair.serve_dir("job1"), files, {"memfd.img"}, deadline_in(kTimeout)));
    require_ok(
        restore_and_compare(pair.serve_dir("job1"), files, {"memfd.img"}, deadline_in(kTimeout)));
}

TEST_CASE("an empty file exists: exists=true, then immediate EOF on its pipe") {
    DaemonPair pair;
    StreamDumpSession dump(pair.capture_dir("job1"));
    dump.announce("timens-0.img").reset();  // EOF without data
    REQUIRE(write_and_close(dump.announce("inventory.img"), "inv", deadline_in(kTimeout)).status ==
            IoStatus::ok);
    dump.close();

    StreamRestoreSession restore(pair.serve_dir("job1"));
    auto reply = restore.request("timens-0.img", deadline_in(kTimeout));
    REQUIRE(to_string(reply.answer) == to_string(Answer::exists));
    auto got = read_to_eof(reply.pipe.get(), deadline_in(seconds(5)));
    CHECK(got.result.status == IoStatus::ok);
    CHECK(got.data.empty());
    CHECK(restore.request("memfd.img", deadline_in(kTimeout)).answer == Answer::missing);
}

TEST_CASE("a name written twice in one dump is served as the last complete copy") {
    DaemonPair pair;
    const auto first = make_content(11, 100'000);
    const auto second = make_content(12, 70'000);
    StreamDumpSession dump(pair.capture_dir("job1"));
    REQUIRE(
        write_and_close(dump.announce("mountpoints-12.img"), first, deadline_in(kTimeout)).status ==
        IoStatus::ok);
    REQUIRE(write_and_close(dump.announce("mountpoints-12.img"), second, deadline_in(kTimeout))
                .status == IoStatus::ok);
    REQUIRE(dump.finish(deadline_in(kTimeout)));

    StreamRestoreSession restore(pair.serve_dir("job1"));
    // While the dump runs, the copy that arrived first may be served (a later one may never
    // come); which copy wins is only defined once the dump is complete, which a missing file's
    // "false" proves.
    REQUIRE(restore.request("memfd.img", deadline_in(kTimeout)).answer == Answer::missing);
    std::string content;
    REQUIRE(restore.fetch("mountpoints-12.img", content, deadline_in(kTimeout)) == Answer::exists);
    CHECK(describe_difference(second, content) == "identical");
}

TEST_CASE("when both copies of a duplicate are open at once, the one completed last wins") {
    DaemonPair pair;
    const auto early = make_content(13, 50'000);
    const auto late = make_content(14, 60'000);
    StreamDumpSession dump(pair.capture_dir("job1"));
    auto announced_first = dump.announce("mountpoints-12.img");
    auto announced_second = dump.announce("mountpoints-12.img");
    REQUIRE(write_and_close(std::move(announced_second), early, deadline_in(kTimeout)).status ==
            IoStatus::ok);
    // The first copy to end is complete on img-cached before the second ends.
    REQUIRE(wait_for_status(
        pair, Side::cache, "job1", [](const auto& s) { return count_of(s, "files") >= 1; },
        deadline_in(kTimeout)));
    REQUIRE(write_and_close(std::move(announced_first), late, deadline_in(kTimeout)).status ==
            IoStatus::ok);
    REQUIRE(dump.finish(deadline_in(kTimeout)));

    StreamRestoreSession restore(pair.serve_dir("job1"));
    // While the dump runs, the copy that arrived first may be served (a later one may never
    // come); which copy wins is only defined once the dump is complete, which a missing file's
    // "false" proves.
    REQUIRE(restore.request("memfd.img", deadline_in(kTimeout)).answer == Answer::missing);
    std::string content;
    REQUIRE(restore.fetch("mountpoints-12.img", content, deadline_in(kTimeout)) == Answer::exists);
    CHECK(describe_difference(late, content) == "identical");
}

TEST_CASE("a new dump of the same snapshot id replaces the old one") {
    DaemonPair pair;
    const auto old_files = generate_files("old", 21, 4);
    const auto new_files = generate_files("new", 22, 4);
    require_ok(dump_files(pair.capture_dir("job1"), old_files, deadline_in(kTimeout)));
    require_ok(restore_and_compare(pair.serve_dir("job1"), old_files, {}, deadline_in(kTimeout)));

    NextDump next(pair, "job1");
    require_ok(dump_files(pair.capture_dir("job1"), new_files, deadline_in(kTimeout)));
    // The new dump has ended on CRIU's side, but img-cached may not have heard of it yet: a
    // restore connecting in between is rightly served the complete old snapshot. Wait until
    // img-cached holds the new one.
    REQUIRE(next.wait_exit(Side::cache) == 0);
    std::vector<std::string> old_names;
    for (const auto& f : old_files) old_names.push_back(f.name);
    require_ok(
        restore_and_compare(pair.serve_dir("job1"), new_files, old_names, deadline_in(kTimeout)));
}

TEST_CASE("a new dump that starts while the old one is still running replaces it") {
    DaemonPair pair;
    StreamDumpSession old_dump(pair.capture_dir("job1"));
    REQUIRE(write_and_close(old_dump.announce("old.img"), "old", deadline_in(kTimeout)).status ==
            IoStatus::ok);
    auto old_pipe = old_dump.announce("pages-1.img");  // the old dump is still receiving
    REQUIRE(wait_for_status(
        pair, Side::cache, "job1", [](const auto& s) { return count_of(s, "files") >= 1; },
        deadline_in(kTimeout)));  // img-cached holds old.img

    const auto new_files = generate_files("new", 23, 3);
    NextDump next(pair, "job1");
    require_ok(dump_files(pair.capture_dir("job1"), new_files, deadline_in(kTimeout)));
    // A restore before img-cached heard of the new dump would rightly be served the old one.
    REQUIRE(next.wait_seen(Side::cache, deadline_in(kTimeout)));
    require_ok(
        restore_and_compare(pair.serve_dir("job1"), new_files, {"old.img"}, deadline_in(kTimeout)));
    old_pipe.reset();
    old_dump.end_requests();
    // The replaced dump ending later must not bring its files back or end the new one: the
    // restore below comes after img-proxyd has read the old dump's end and closed its socket.
    REQUIRE(old_dump.closed_by_daemon(deadline_in(kTimeout)));
    require_ok(restore_and_compare(pair.serve_dir("job1"), new_files, {"old.img", "pages-1.img"},
                                   deadline_in(kTimeout)));
}

TEST_CASE(
    "CRIU closing a served pipe early is a normal end: the restore goes on and the file can be "
    "read again") {
    // Spec 1.2: CRIU may stop reading a large image (e.g. parent pages) and close its end; the
    // daemon then gets EPIPE, which must neither fail the restore nor the snapshot.
    DaemonPair pair;
    const std::string pages = make_content(41, 3 << 20);  // larger than any pipe
    StreamDumpSession dump(pair.capture_dir("job1"));
    REQUIRE(write_and_close(dump.announce("pages-1.img"), pages, deadline_in(kTimeout)).status ==
            IoStatus::ok);
    REQUIRE(write_and_close(dump.announce("inventory.img"), "inv", deadline_in(kTimeout)).status ==
            IoStatus::ok);
    dump.close();

    StreamRestoreSession restore(pair.serve_dir("job1"));
    auto early = restore.request("pages-1.img", deadline_in(kTimeout));
    REQUIRE(early.answer == Answer::exists);
    early.pipe.reset();  // closed without reading a byte
    auto inventory = restore.request("inventory.img", deadline_in(kTimeout));
    REQUIRE(inventory.answer == Answer::exists);
    CHECK(read_to_eof(inventory.pipe.get(), deadline_in(seconds(10))).data == "inv");
    auto again = restore.request("pages-1.img", deadline_in(kTimeout));
    REQUIRE(again.answer == Answer::exists);
    auto got = read_to_eof(again.pipe.get(), deadline_in(seconds(10)));
    CHECK(got.result.status == IoStatus::ok);
    CHECK(got.data == pages);
    CHECK(pair.running(Side::cache));
}
