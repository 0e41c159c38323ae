// Link lanes (link_streams): one link session over several TCP connections, file data striped
// over them and put back in order on img-cached; a lane cut mid-file resumes like the link does.
#include <catch2/catch.hpp>
#include <iterator>
#include <memory>
#include <regex>
#include <thread>

#include "support/content.hpp"
#include "support/criu_client.hpp"
#include "support/daemon_pair.hpp"
#include "support/daemon_waits.hpp"
#include "support/fault_relay.hpp"
#include "support/generated_dump.hpp"
#include "support/log_wait.hpp"
#include "support/pipe_writer.hpp"
#include "support/relayed_pair.hpp"

using namespace imgtest;

namespace {

constexpr auto kTimeout = seconds(30);
constexpr std::uint64_t kMiB = 1 << 20;

std::string log_of(DaemonPair& pair, Side side) {
    return read_text_file(pair.process(side).log_path());
}

int wait_exit(DaemonPair& pair, Side side) {
    return pair.ctl(side, {"wait", "job1", "--timeout", "25"}, seconds(35)).exit_status;
}

// Four lanes, resuming on, short budgets and idle timeout (the fault tests stay quick).
PairOptions four_lanes_resuming() {
    PairOptions options;
    // The capture buffer as small as the pool: a dump larger than 8 MiB cannot end into it
    // before the link fails it (the kill test checks that CRIU's pipe is closed).
    options.proxy_args = {"--link-streams",      "4", "--buffers",    "8",
                          "--capture-buffer",    "8", "--link-retry", "15",
                          "--link-idle-timeout", "2"};
    options.cache_args = {"--link-resume", "15"};
    return options;
}

std::string fetch(const DaemonPair& pair, const std::string& name) {
    StreamRestoreSession restore(pair.serve_dir("job1"));
    std::string got;
    if (restore.fetch(name, got, deadline_in(kTimeout)) != Answer::exists) return "(not served)";
    return got;
}

// Dumps 24 MiB and an inventory through `rig`, whose relay stalls a connection on the way; both
// daemons must see the dump complete and a restore must get identical bytes.
void dump_through_stall(RelayedPair& rig, unsigned seed) {
    auto& pair = *rig.pair;
    const std::vector<GeneratedFile> files = {{"pages-1.img", make_content(seed, 24 * kMiB)},
                                              {"inventory.img", "inv"}};
    REQUIRE(dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout)).empty());
    CHECK(rig.relay->fault_happened());
    CHECK(wait_exit(pair, Side::proxy) == 0);
    CHECK(wait_exit(pair, Side::cache) == 0);
    CHECK(restore_and_compare(pair.serve_dir("job1"), files, {}, deadline_in(kTimeout)) == "");
}

}  // namespace

TEST_CASE("a migration over four link lanes delivers identical bytes") {
    PairOptions options;
    options.proxy_args = {"--link-streams", "4"};
    DaemonPair pair(options);
    auto files = generate_files("many", 81, 24);
    files.push_back({"pages-1.img", make_content(82, 24 * kMiB)});  // many chunks on every lane
    files.push_back({"empty.img", ""});
    const auto dumped = dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout));
    REQUIRE(dumped.empty());
    CHECK(wait_exit(pair, Side::proxy) == 0);
    CHECK(wait_exit(pair, Side::cache) == 0);
    CHECK(restore_and_compare(pair.serve_dir("job1"), files, {"absent.img"},
                              deadline_in(kTimeout)) == "");
    CHECK(log_of(pair, Side::proxy).find("uses 4 of 4 lanes") != std::string::npos);
    CHECK(log_of(pair, Side::cache).find("as lane 3") != std::string::npos);
}

TEST_CASE("several dumps after one another over two link lanes all arrive whole") {
    PairOptions options;
    options.proxy_args = {"--link-streams", "2", "--buffers", "4"};
    DaemonPair pair(options);
    for (int round = 0; round < 3; ++round) {
        const std::vector<GeneratedFile> files = {
            {"pages-1.img", make_content(90 + round, 5 * kMiB + 17)},
            {"inventory.img", "inv" + std::to_string(round)}};
        REQUIRE(dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout)).empty());
        CHECK(wait_exit(pair, Side::proxy) == 0);
        CHECK(restore_and_compare(pair.serve_dir("job1"), files, {}, deadline_in(kTimeout)) == "");
    }
}

TEST_CASE("fault: one of four link streams cut mid-file -> resumed, exact bytes", "[fault]") {
    // Connection 1 is lane 0; connections 2-4 are the data-only lanes. The first of them to carry
    // half a chunk is cut in the middle of that chunk: how the lanes share the file follows their
    // measured rates, so on a busy machine one lane may carry little (a fixed lane and offset
    // were never reached there).
    RelayedPair rig([](FaultRelay& relay) { relay.cut_first_of_connections_at(2, 4, kMiB / 2); },
                    four_lanes_resuming());
    auto& pair = rig.pair;
    auto& relay = *rig.relay;

    const auto pages = make_content(83, 32 * kMiB);
    StreamDumpSession session(pair->capture_dir("job1"));
    REQUIRE(write_and_close(session.announce("pages-1.img"), pages, deadline_in(kTimeout)).status ==
            IoStatus::ok);
    REQUIRE(
        write_and_close(session.announce("inventory.img"), "inv", deadline_in(kTimeout)).status ==
        IoStatus::ok);
    REQUIRE_NOTHROW(session.close());  // CRIU saw no error

    REQUIRE(relay.wait_for_fault(deadline_in(kTimeout)));
    CHECK(wait_exit(*pair, Side::proxy) == 0);
    CHECK(wait_exit(*pair, Side::cache) == 0);
    CHECK(fetch(*pair, "pages-1.img") == pages);
    CHECK(fetch(*pair, "inventory.img") == "inv");
    CHECK(relay.connections() >= 5);  // four lanes and the cut one again
    const auto proxy_log = log_of(*pair, Side::proxy);
    CHECK(proxy_log.find("lost") != std::string::npos);
    CHECK(proxy_log.find("resumed") != std::string::npos);
}

TEST_CASE(
    "fault: img-cached killed (kill -9) mid-dump over four link lanes -> failed loudly, the next "
    "dump uses "
    "four lanes again",
    "[fault]") {
    DaemonPair pair(four_lanes_resuming());
    const auto pages = make_content(84, 24 * kMiB);
    {
        StreamDumpSession session(pair.capture_dir("job1"));
        auto pipe = session.announce("pages-1.img");
        make_nonblocking(pipe.get());
        const auto first = write_all(pipe.get(), std::string_view(pages).substr(0, 2 * kMiB),
                                     deadline_in(kTimeout));
        REQUIRE(first.status == IoStatus::ok);
        // img-cached holds the link session and part of the file when it is killed.
        REQUIRE(wait_for_status(
            pair, Side::cache, "job1", [](const auto& s) { return bytes_of(s) > 0; },
            deadline_in(kTimeout)));
        pair.kill(Side::cache);
        pair.restart(Side::cache);  // same port; it knows nothing of the session
        const auto rest =
            write_all(pipe.get(), std::string_view(pages).substr(2 * kMiB), deadline_in(kTimeout));
        CHECK(rest.status != IoStatus::ok);  // the dump failed: CRIU's pipe was closed
    }
    CHECK(wait_exit(pair, Side::proxy) == 1);
    CHECK(log_of(pair, Side::proxy).find("no longer holds the link session") != std::string::npos);

    const std::vector<GeneratedFile> files = {{"pages-1.img", pages}, {"inventory.img", "inv"}};
    NextDump next(pair, "job1");  // the wait is for this dump, not the failed one
    REQUIRE(dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout)).empty());
    CHECK(next.wait_exit(Side::proxy) == 0);
    CHECK(restore_and_compare(pair.serve_dir("job1"), files, {}, deadline_in(kTimeout)) == "");
    const auto proxy_log = log_of(pair, Side::proxy);
    const auto first_session = proxy_log.find("uses 4 of 4 lanes");
    REQUIRE(first_session != std::string::npos);
    CHECK(proxy_log.find("uses 4 of 4 lanes", first_session + 1) != std::string::npos);
}

TEST_CASE(
    "fault: one of four link streams stalled mid-file -> reconnected and resumed, exact bytes",
    "[fault]") {
    // Whichever connection first carries 2 MiB stalls for good: only a new connection of that
    // lane gets its chunks through (the other lanes' chunks wait for them on img-cached).
    RelayedPair rig([](FaultRelay& relay) { relay.stall_at(2 * kMiB); }, four_lanes_resuming());
    dump_through_stall(rig, 85);
    CHECK(rig.relay->connections() >= 5);
}

TEST_CASE(
    "fault: one data lane of four stalled mid-file -> only that lane reconnects, the others keep "
    "their connections, exact bytes",
    "[fault]") {
    // Connection 1 is lane 0; connections 2-4 are the data-only lanes. The first of them to carry
    // 2 MiB stalls for good, and its reconnections are refused for a while longer than the idle
    // timeout: the other lanes' chunks behind its gap wait on img-cached unacknowledged all that
    // time, which must not count as a stall of their own lanes.
    RelayedPair rig(
        [](FaultRelay& relay) {
            relay.stall_first_of_connections_at(2, 4, 2 * kMiB);
            relay.refuse_connections_from(5);
        },
        four_lanes_resuming());
    auto& pair = *rig.pair;
    std::thread reopen([&] {
        // The stalled lane is lost (2 s idle timeout); its reconnections stay refused for 3 s
        // more.
        (void)wait_for_log_line(pair.log_path(Side::proxy),
                                std::regex(R"(link lane \d to img-cached at \S+ lost)"),
                                deadline_in(kTimeout));
        std::this_thread::sleep_for(seconds(3));  // deliberate: the outage the other lanes outlast
        rig.relay->refuse_connections_from(0);
    });
    dump_through_stall(rig, 86);
    reopen.join();
    const auto proxy_log = log_of(pair, Side::proxy);
    CHECK_FALSE(std::regex_search(proxy_log, std::regex(R"(link to img-cached at \S+ lost)")));
    std::smatch lost;
    const std::regex lane_lost(R"(link lane (\d) to img-cached at \S+ lost)");
    REQUIRE(std::regex_search(proxy_log, lost, lane_lost));
    CHECK(std::distance(std::sregex_iterator(proxy_log.begin(), proxy_log.end(), lane_lost),
                        std::sregex_iterator()) == 1);
    // img-cached names the lane it lost and that lane's own address, not lane 0's.
    const auto cache_log = log_of(pair, Side::cache);
    std::smatch lane0;
    REQUIRE(std::regex_search(cache_log, lane0,
                              std::regex(R"(link session \S+ from (\S+) uses 4 lanes)")));
    std::smatch gone;
    REQUIRE(std::regex_search(cache_log, gone,
                              std::regex("link lane " + lost[1].str() +
                                         R"( from img-proxyd (\S+) (lost|disconnected))")));
    CHECK(gone[1].str() != lane0[1].str());
}
