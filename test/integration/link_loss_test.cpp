// img-proxyd dies mid-dump: restores waiting on the cache see their socket closed, never "false".
#include <catch2/catch.hpp>

#include "support/content.hpp"
#include "support/criu_client.hpp"
#include "support/daemon_pair.hpp"
#include "support/daemon_waits.hpp"
#include "support/generated_dump.hpp"
#include "support/pipe_writer.hpp"

using namespace imgtest;

namespace {

constexpr auto kTimeout = seconds(20);

}  // namespace

TEST_CASE(
    "fault: img-proxyd killed mid-dump -> restores waiting on the snapshot (for a missing or a "
    "partial file) "
    "are closed, never told false",
    "[fault]") {
    // The cache keeps the snapshot for a resume for --link-resume seconds; the restores close then.
    PairOptions options;
    options.cache_args = {"--link-resume", "1"};
    DaemonPair pair(options);
    StreamDumpSession dump(pair.capture_dir("job1"));
    REQUIRE(write_and_close(dump.announce("inventory.img"), "inv", deadline_in(kTimeout)).status ==
            IoStatus::ok);
    auto pages = dump.announce("pages-1.img");
    const auto partial = make_content(41, 200'000);
    make_nonblocking(pages.get());
    REQUIRE(write_all(pages.get(), partial, deadline_in(kTimeout)).status == IoStatus::ok);

    // Make sure the cache has the snapshot: inventory.img arrives complete.
    StreamRestoreSession waiting_for_missing(pair.serve_dir("job1"));
    std::string inventory;
    REQUIRE(waiting_for_missing.fetch("inventory.img", inventory, deadline_in(kTimeout)) ==
            Answer::exists);
    CHECK(inventory == "inv");
    waiting_for_missing.send_request("memfd.img");  // would be false once complete
    StreamRestoreSession waiting_for_partial(pair.serve_dir("job1"));
    waiting_for_partial.send_request("pages-1.img");  // arriving, never finished
    // deliberate: no answer may come while the dump runs (a bounded look, not an ordering)
    CHECK(waiting_for_missing.read_reply(deadline_in(milliseconds(500))).answer ==
          Answer::no_answer);
    CHECK(waiting_for_partial.read_reply(deadline_in(milliseconds(10))).answer ==
          Answer::no_answer);

    pair.kill_proxy();

    CHECK(to_string(waiting_for_missing.read_reply(deadline_in(kTimeout)).answer) ==
          to_string(Answer::closed));
    CHECK(to_string(waiting_for_partial.read_reply(deadline_in(kTimeout)).answer) ==
          to_string(Answer::closed));
    // A restore arriving after the loss is closed too: the snapshot failed.
    StreamRestoreSession late(pair.serve_dir("job1"));
    CHECK(to_string(late.request("inventory.img", deadline_in(kTimeout)).answer) ==
          to_string(Answer::closed));
    CHECK(pair.running(Side::cache));
}

TEST_CASE(
    "fault: img-proxyd killed mid-dump and restarted -> the next dump of the snapshot succeeds",
    "[fault]") {
    DaemonPair pair;
    {
        StreamDumpSession dump(pair.capture_dir("job1"));
        auto pages = dump.announce("pages-1.img");
        REQUIRE(write_all(pages.get(), "partial", deadline_in(kTimeout)).status == IoStatus::ok);
        // img-cached holds part of the dump when img-proxyd dies.
        REQUIRE(wait_for_status(
            pair, Side::cache, "job1", [](const auto& s) { return bytes_of(s) > 0; },
            deadline_in(kTimeout)));
        pair.kill_proxy();
    }
    // Restart the proxy: same capture dir, same cache.
    pair.restart_proxy();
    const auto files = generate_files("img", 42, 6);
    NextDump next(pair, "job1");
    auto dumped = dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout));
    INFO(dumped);
    REQUIRE(dumped.empty());
    // A restore before img-cached heard of the new dump would rightly get the failed old one.
    REQUIRE(next.wait_exit(Side::cache) == 0);
    auto restored =
        restore_and_compare(pair.serve_dir("job1"), files, {"memfd.img"}, deadline_in(kTimeout));
    INFO(restored);
    CHECK(restored.empty());
}
