// Link faults injected by a relay between img-proxyd and img-cached: a corrupted byte, a cut, a
// stall. Each either fails the snapshot loudly on both sides or goes on transparently; no restore
// ever receives bytes that differ from what was dumped.
#include <catch2/catch.hpp>
#include <memory>

#include "support/content.hpp"
#include "support/criu_client.hpp"
#include "support/daemon_pair.hpp"
#include "support/fault_relay.hpp"
#include "support/generated_dump.hpp"
#include "support/pipe_writer.hpp"
#include "support/process.hpp"
#include "support/relayed_pair.hpp"

using namespace imgtest;

namespace {

constexpr auto kTimeout = seconds(20);
constexpr std::size_t kPagesBytes = 3 << 20;  // several DATA frames

// One CRIU dump of pages-1.img and inventory.img on job1; "" or what went wrong.
std::string dump_pages(const DaemonPair& pair, const std::string& pages) {
    return dump_pages_and_inventory(pair.capture_dir("job1"), pages, deadline_in(kTimeout));
}

int wait_exit(DaemonPair& pair, Side side) {
    return pair.ctl(side, {"wait", "job1", "--timeout", "20"}, seconds(30)).exit_status;
}

// A restore asks for pages-1.img: it must be closed, never handed the file.
void expect_restore_refused(const DaemonPair& pair) {
    StreamRestoreSession restore(pair.serve_dir("job1"));
    auto reply = restore.request("pages-1.img", deadline_in(kTimeout));
    CHECK(to_string(reply.answer) == to_string(Answer::closed));
}

}  // namespace

TEST_CASE(
    "fault: a byte of image data corrupted on the link -> the snapshot fails on both sides, its "
    "restores are "
    "closed; the next dump succeeds",
    "[fault]") {
    RelayedPair rig([](FaultRelay& relay) { relay.corrupt_data_byte(kPagesBytes / 2); });
    auto& pair = *rig.pair;
    const auto pages = make_content(61, kPagesBytes);
    // A restore waiting from the start must not get the file either.
    StreamRestoreSession early(pair.serve_dir("job1"));
    early.send_request("pages-1.img");

    REQUIRE(dump_pages(pair, pages).empty());
    REQUIRE(rig.relay->wait_for_fault(deadline_in(kTimeout)));
    CHECK(wait_exit(pair, Side::cache) == 1);
    CHECK(wait_exit(pair, Side::proxy) == 1);
    CHECK(to_string(early.read_reply(deadline_in(kTimeout)).answer) == to_string(Answer::closed));
    expect_restore_refused(pair);
    CHECK(pair.logs().find("checksum mismatch") != std::string::npos);
    // img-cached reports the failure once, not again when the dump's end arrives.
    const std::string cache_log = read_text_file(pair.dir().path() + "/img-cached.log");
    std::size_t reports = 0;
    for (auto at = cache_log.find("failed after"); at != std::string::npos;
         at = cache_log.find("failed after", at + 1))
        ++reports;
    CHECK(reports == 1);

    // The fault fired once: the next dump of the same id goes through intact.
    REQUIRE(dump_pages(pair, pages).empty());
    CHECK(wait_exit(pair, Side::cache) == 0);
    StreamRestoreSession restore(pair.serve_dir("job1"));
    std::string got;
    REQUIRE(restore.fetch("pages-1.img", got, deadline_in(kTimeout)) == Answer::exists);
    CHECK(got == pages);
}

TEST_CASE(
    "fault: link cut mid-file with resuming off (--link-retry 0) -> the snapshot fails on both "
    "sides, its "
    "restores are closed; img-proxyd reconnects and the next dump succeeds",
    "[fault]") {
    // Resuming is the default (link_resume_test.cpp); --link-retry 0 keeps the old fail-at-once
    // path.
    PairOptions options;
    options.proxy_args = {"--link-retry", "0"};
    RelayedPair rig([](FaultRelay& relay) { relay.cut_at(kPagesBytes / 3); }, options);
    auto& pair = *rig.pair;
    const auto pages = make_content(62, kPagesBytes);
    StreamRestoreSession early(pair.serve_dir("job1"));
    early.send_request("pages-1.img");

    // CRIU's side may or may not see the loss (its pipe may already be drained): either is fine.
    const auto dumped = dump_pages(pair, pages);
    INFO("the dump during the cut: " << (dumped.empty() ? "completed" : dumped));
    REQUIRE(rig.relay->wait_for_fault(deadline_in(kTimeout)));
    CHECK(wait_exit(pair, Side::proxy) == 1);
    CHECK(wait_exit(pair, Side::cache) == 1);
    CHECK(to_string(early.read_reply(deadline_in(kTimeout)).answer) == to_string(Answer::closed));
    expect_restore_refused(pair);

    // img-proxyd reconnects through the relay; a new dump replaces the failed snapshot.
    REQUIRE(dump_pages(pair, pages).empty());
    CHECK(wait_exit(pair, Side::cache) == 0);
    StreamRestoreSession restore(pair.serve_dir("job1"));
    std::string got;
    REQUIRE(restore.fetch("pages-1.img", got, deadline_in(kTimeout)) == Answer::exists);
    CHECK(got == pages);
    CHECK(rig.relay->connections() >= 2);
}

TEST_CASE(
    "fault: link stalled mid-file -> the dump is held back without unbounded buffering and, "
    "released, every "
    "byte arrives",
    "[fault]") {
    // A capture buffer of 16 MiB: it holds CRIU back as the 16 buffers of the path without one do.
    PairOptions options;
    options.proxy_args = {"--capture-buffer", "16"};
    RelayedPair rig([](FaultRelay& relay) { relay.stall_at(kPagesBytes / 4); }, options);
    auto& pair = *rig.pair;
    const auto pages = make_content(64, 48 << 20);  // more than img-proxyd's 16 MiB of buffers

    StreamDumpSession dump(pair.capture_dir("job1"));
    auto pipe = dump.announce("pages-1.img");
    make_nonblocking(pipe.get());
    // While the link is stalled, img-proxyd stops reading: the pipe fills and writing stops short
    // (no byte taken for a whole second after the stall began; bounded by kTimeout).
    IoResult written;
    const auto give_up = deadline_in(kTimeout);
    for (;;) {
        const auto step = write_all(pipe.get(), std::string_view(pages).substr(written.transferred),
                                    deadline_in(seconds(1)));
        written.transferred += step.transferred;
        written.status = step.status;
        if (step.status != IoStatus::timeout || Clock::now() >= give_up) break;
        if (rig.relay->fault_happened() && step.transferred == 0) break;
    }
    REQUIRE(rig.relay->fault_happened());
    CHECK(written.status == IoStatus::timeout);
    INFO("bytes taken from the pipe while stalled: " << written.transferred);
    CHECK(written.transferred < pages.size());
    StreamRestoreSession early(pair.serve_dir("job1"));
    early.send_request("pages-1.img");
    CHECK(to_string(early.read_reply(deadline_in(milliseconds(300))).answer) ==
          to_string(Answer::no_answer));

    rig.relay->release_stall();
    REQUIRE(write_all(pipe.get(), std::string_view(pages).substr(written.transferred),
                      deadline_in(kTimeout))
                .status == IoStatus::ok);
    pipe.reset();
    REQUIRE(write_and_close(dump.announce("inventory.img"), "inv", deadline_in(kTimeout)).status ==
            IoStatus::ok);
    dump.close();
    CHECK(wait_exit(pair, Side::proxy) == 0);
    auto reply = early.read_reply(deadline_in(kTimeout));
    REQUIRE(reply.answer == Answer::exists);
    CHECK(read_to_eof(reply.pipe.get(), deadline_in(kTimeout)).data == pages);
}
