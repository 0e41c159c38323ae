// Link resume: a cut or stalled link reconnects and continues every unfinished file from what
// img-cached acknowledged, without CRIU noticing; an outage longer than the retry budget, or a
// restarted img-cached, fails the snapshot loudly on both sides.
#include <catch2/catch.hpp>
#include <memory>

#include "support/content.hpp"
#include "support/criu_client.hpp"
#include "support/daemon_pair.hpp"
#include "support/daemon_waits.hpp"
#include "support/fault_relay.hpp"
#include "support/pipe_writer.hpp"

using namespace imgtest;

namespace {

constexpr auto kTimeout = seconds(20);
constexpr std::uint64_t kMiB = 1 << 20;
// A small buffer pool and capture buffer bound what img-proxyd can hold unacknowledged, and so
// what it resends.
constexpr std::uint64_t kBuffers = 4;

// Both daemons with a relay on the link and resuming on (short budgets keep the tests quick).
struct ResumingPair {
    std::unique_ptr<DaemonPair> pair;
    std::unique_ptr<FaultRelay> relay;

    template <typename Arm>
    explicit ResumingPair(Arm&& arm, std::vector<std::string> extra_proxy_args = {}) {
        PairOptions options;
        options.start_proxy = false;
        options.proxy_args = {"--buffers",           std::to_string(kBuffers),
                              "--capture-buffer",    std::to_string(kBuffers),
                              "--link-retry",        "15",
                              "--link-idle-timeout", "2"};
        options.proxy_args.insert(options.proxy_args.end(), extra_proxy_args.begin(),
                                  extra_proxy_args.end());
        options.cache_args = {"--link-resume", "15"};
        pair = std::make_unique<DaemonPair>(options);
        relay = std::make_unique<FaultRelay>(pair->port());
        arm(*relay);
        pair->route_link_through(relay->port());
        pair->start_proxy();
    }
};

int wait_exit(DaemonPair& pair, Side side) {
    return pair.ctl(side, {"wait", "job1", "--timeout", "20"}, seconds(30)).exit_status;
}

std::string fetch(const DaemonPair& pair, const std::string& name) {
    StreamRestoreSession restore(pair.serve_dir("job1"));
    std::string got;
    if (restore.fetch(name, got, deadline_in(kTimeout)) != Answer::exists) return "(not served)";
    return got;
}

// One CRIU dump of the given files on job1, each written whole before the next, inventory.img
// last; "" or what went wrong on CRIU's side.
std::string dump(const DaemonPair& pair,
                 const std::vector<std::pair<std::string, std::string>>& files) {
    try {
        StreamDumpSession session(pair.capture_dir("job1"));
        bool inventory = false;  // CRIU's last image, written here unless `files` has it
        for (const auto& [name, content] : files) {
            if (write_and_close(session.announce(name), content, deadline_in(kTimeout)).status !=
                IoStatus::ok)
                return "writing " + name + " failed";
            inventory = inventory || name == kFinishingImage;
        }
        if (inventory)
            session.close();
        else if (!session.finish(deadline_in(kTimeout)))
            return "writing inventory.img failed";
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("fault: link cut mid-file -> resumed transparently, no completed file resent",
          "[fault]") {
    const auto done = make_content(71, 8 * kMiB);
    const auto pages = make_content(72, 6 * kMiB);
    // The cut falls 2 MiB into pages-1.img, after done.img went through whole.
    ResumingPair rig([](FaultRelay& relay) { relay.cut_connections_at({10 * kMiB}); });
    auto& pair = *rig.pair;
    StreamDumpSession session(pair.capture_dir("job1"));
    REQUIRE(write_and_close(session.announce("done.img"), done, deadline_in(kTimeout)).status ==
            IoStatus::ok);
    REQUIRE(fetch(pair, "done.img") == done);  // img-cached holds it before the cut
    REQUIRE(write_and_close(session.announce("pages-1.img"), pages, deadline_in(kTimeout)).status ==
            IoStatus::ok);
    REQUIRE(session.finish(deadline_in(kTimeout)));  // CRIU saw no error

    REQUIRE(rig.relay->wait_for_fault(deadline_in(kTimeout)));
    CHECK(wait_exit(pair, Side::proxy) == 0);
    CHECK(wait_exit(pair, Side::cache) == 0);
    CHECK(fetch(pair, "pages-1.img") == pages);
    CHECK(fetch(pair, "done.img") == done);
    CHECK(rig.relay->connections() >= 2);
    // What was resent is at most what img-proxyd may hold unacknowledged: done.img was not resent.
    INFO("image bytes relayed: " << rig.relay->data_bytes_relayed());
    CHECK(rig.relay->data_bytes_relayed() <= done.size() + pages.size() + kBuffers * kMiB);
    CHECK(pair.logs().find("resumed") != std::string::npos);
}

TEST_CASE("fault: several link cuts in one snapshot -> resumed transparently", "[fault]") {
    const auto pages = make_content(73, 12 * kMiB);
    // The first connection is cut 3 MiB in, the next 1 MiB into its own stream, the third 2 MiB in.
    ResumingPair rig([](FaultRelay& relay) {
        relay.cut_connections_at({3 * kMiB, 1 * kMiB, 2 * kMiB});
    });
    auto& pair = *rig.pair;
    const auto dumped = dump(pair, {{"pages-1.img", pages}, {"inventory.img", "inv"}});
    CHECK(dumped.empty());
    REQUIRE(rig.relay->wait_for_fault(deadline_in(kTimeout)));
    CHECK(wait_exit(pair, Side::proxy) == 0);
    CHECK(wait_exit(pair, Side::cache) == 0);
    CHECK(fetch(pair, "pages-1.img") == pages);
    CHECK(fetch(pair, "inventory.img") == "inv");
    CHECK(rig.relay->connections() >= 4);
}

TEST_CASE("fault: link cut with compressed chunks in the window -> resumed transparently",
          "[fault]") {
    // Text records compress several times: the cuts fall among DATA_ZSTD frames.
    std::string pages;
    for (long i = 0; pages.size() < 12 * kMiB; ++i)
        pages += "{'id': " + std::to_string(i * 7919 % 1000003) + ", 'name': 'user" +
                 std::to_string(i % 977) + "', 'n': " + std::to_string(i % 131) + "}, ";
    ResumingPair rig(
        [](FaultRelay& relay) {
            relay.cut_connections_at({kMiB / 2, kMiB / 4});
        },
        {"--compress", "zstd"});
    auto& pair = *rig.pair;
    const auto dumped = dump(pair, {{"pages-1.img", pages}, {"inventory.img", "inv"}});
    CHECK(dumped.empty());
    REQUIRE(rig.relay->wait_for_fault(deadline_in(kTimeout)));
    CHECK(wait_exit(pair, Side::proxy) == 0);
    CHECK(wait_exit(pair, Side::cache) == 0);
    CHECK(fetch(pair, "pages-1.img") == pages);
    CHECK(rig.relay->connections() >= 3);
    // Compressed: far fewer bytes crossed the relay than the image holds.
    INFO("image bytes relayed: " << rig.relay->data_bytes_relayed());
    CHECK(rig.relay->data_bytes_relayed() < pages.size() / 2);
}

TEST_CASE("fault: link stalled longer than the idle timeout -> reconnected and resumed",
          "[fault]") {
    const auto pages = make_content(74, 8 * kMiB);
    // The stall is never released: only a new connection gets the rest through.
    ResumingPair rig([](FaultRelay& relay) { relay.stall_at(3 * kMiB); });
    auto& pair = *rig.pair;
    const auto dumped = dump(pair, {{"pages-1.img", pages}, {"inventory.img", "inv"}});
    CHECK(dumped.empty());
    CHECK(rig.relay->fault_happened());
    CHECK(wait_exit(pair, Side::proxy) == 0);
    CHECK(wait_exit(pair, Side::cache) == 0);
    CHECK(fetch(pair, "pages-1.img") == pages);
    CHECK(rig.relay->connections() >= 2);
}

TEST_CASE("fault: link down longer than the retry budget -> failed loudly on both sides",
          "[fault]") {
    // More than the pool holds, so CRIU's writes wait on img-proxyd and see the failure.
    const auto pages = make_content(75, 24 * kMiB);
    ResumingPair rig(
        [](FaultRelay& relay) {
            relay.cut_connections_at({3 * kMiB});
            relay.refuse_connections_from(2);  // the first connection gets through, until the cut
        },
        {"--link-retry", "2"});
    auto& pair = *rig.pair;
    StreamRestoreSession early(pair.serve_dir("job1"));
    early.send_request("pages-1.img");

    const auto dumped = dump(pair, {{"pages-1.img", pages}});
    INFO("the dump: " << (dumped.empty() ? "completed" : dumped));
    CHECK_FALSE(dumped.empty());  // CRIU's dump fails
    CHECK(wait_exit(pair, Side::proxy) == 1);
    // img-cached fails the snapshot when its own budget runs out, or at once when img-proxyd
    // comes back with a new session and names the one it gave up.
    rig.relay->refuse_connections_from(0);
    CHECK(wait_exit(pair, Side::cache) == 1);
    CHECK(to_string(early.read_reply(deadline_in(kTimeout)).answer) == to_string(Answer::closed));
    CHECK(pair.logs().find("link_retry_seconds") != std::string::npos);

    // The link is back: a new dump of the same id goes through. img-cached may end it before a
    // wait asks, or not have heard of it yet: the wait is for the dump begun after this mark.
    const auto again = make_content(76, 2 * kMiB);
    NextDump next(pair, "job1");
    REQUIRE(dump(pair, {{"pages-1.img", again}}).empty());
    CHECK(next.wait_exit(Side::cache) == 0);
    CHECK(fetch(pair, "pages-1.img") == again);
}

TEST_CASE("fault: img-cached killed (kill -9) with resume on -> failed loudly on both sides",
          "[fault]") {
    PairOptions options;
    options.proxy_args = {"--buffers",           std::to_string(kBuffers),
                          "--capture-buffer",    std::to_string(kBuffers),
                          "--link-retry",        "15",
                          "--link-idle-timeout", "2"};
    options.cache_args = {"--link-resume", "15"};
    DaemonPair pair(options);
    const auto pages = make_content(77, 24 * kMiB);
    StreamDumpSession session(pair.capture_dir("job1"));
    auto pipe = session.announce("pages-1.img");
    make_nonblocking(pipe.get());
    const auto first =
        write_all(pipe.get(), std::string_view(pages).substr(0, 2 * kMiB), deadline_in(kTimeout));
    REQUIRE(first.status == IoStatus::ok);
    // img-cached holds the link session and part of the file when it is killed.
    REQUIRE(wait_for_status(
        pair, Side::cache, "job1", [](const auto& s) { return bytes_of(s) > 0; },
        deadline_in(kTimeout)));

    pair.kill(Side::cache);
    pair.restart(Side::cache);  // same port; it knows nothing of the session
    // img-proxyd resumes into the new img-cached, is told the session is gone, and fails the dump:
    // CRIU's pipe is closed, so the rest of the file cannot be written.
    const auto rest =
        write_all(pipe.get(), std::string_view(pages).substr(2 * kMiB), deadline_in(kTimeout));
    CHECK(rest.status != IoStatus::ok);
    CHECK(wait_exit(pair, Side::proxy) == 1);
    CHECK(pair.logs().find("does not hold") != std::string::npos);
    CHECK(pair.logs().find("no longer holds the link session") != std::string::npos);
}
