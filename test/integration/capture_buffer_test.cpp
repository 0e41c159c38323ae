// img-proxyd's capture buffer (capture_buffer_mib): CRIU's dump ends before the link has sent it,
// every byte still arrives, a lost link fails the dump and frees the buffer, 0 keeps the old path.
#include <catch2/catch.hpp>
#include <functional>
#include <optional>
#include <regex>
#include <string>
#include <thread>

#include "support/content.hpp"
#include "support/criu_client.hpp"
#include "support/daemon_pair.hpp"
#include "support/daemon_waits.hpp"
#include "support/fault_relay.hpp"
#include "support/generated_dump.hpp"
#include "support/pipe_writer.hpp"
#include "support/relayed_pair.hpp"

using namespace imgtest;

namespace {

constexpr auto kTimeout = seconds(20);
constexpr std::size_t kMiB = 1 << 20;

// One CRIU dump of pages-1.img and inventory.img on job1; "" or what went wrong.
std::string dump_pages(const DaemonPair& pair, const std::string& pages) {
    return dump_pages_and_inventory(pair.capture_dir("job1"), pages, deadline_in(kTimeout));
}

// The bytes img-proxyd's status line says its capture buffer holds (nullopt: no such line).
std::optional<std::uint64_t> capture_held(DaemonPair& pair) {
    const auto status = pair.ctl(Side::proxy, {"status"});
    static const std::regex held("capture buffer: ([0-9]+) bytes held");
    std::smatch m;
    if (!std::regex_search(status.out, m, held)) return std::nullopt;
    return std::stoull(m[1]);
}

// Polls capture_held() until it is `want` (bounded poll: the status is the observable event).
bool wait_held(DaemonPair& pair, const std::function<bool(std::uint64_t)>& want) {
    const auto deadline = deadline_in(kTimeout);
    while (Clock::now() < deadline) {
        if (auto held = capture_held(pair); held && want(*held)) return true;
        std::this_thread::sleep_for(milliseconds(50));  // bounded poll
    }
    return false;
}

int wait_exit(DaemonPair& pair, Side side) {
    return pair.ctl(side, {"wait", "job1", "--timeout", "20"}, seconds(30)).exit_status;
}

}  // namespace

TEST_CASE(
    "a dump through the capture buffer, and with capture_buffer_mib = 0, arrives byte-exact") {
    const auto buffer = GENERATE(std::string("64"), std::string("0"));
    INFO("--capture-buffer " << buffer);
    PairOptions options;
    options.proxy_args = {"--capture-buffer", buffer};
    DaemonPair pair(options);
    const auto files = generate_files("img", 91, 12);
    NextDump next(pair, "job1");
    const auto dumped = dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout));
    REQUIRE(dumped.empty());
    REQUIRE(next.wait_exit(Side::cache) == 0);
    CHECK(next.wait_exit(Side::proxy) == 0);
    CHECK(restore_and_compare(pair.serve_dir("job1"), files, {"memfd.img"}, deadline_in(kTimeout))
              .empty());
    const auto held = capture_held(pair);
    CHECK(held.has_value() == (buffer != "0"));  // the line only when there is a buffer
    if (held) CHECK(*held == 0);                 // everything confirmed: nothing held
}

TEST_CASE(
    "with the link stalled, CRIU's dump ends into the capture buffer, status shows the bytes held, "
    "and released, every byte arrives") {
    PairOptions options;
    options.proxy_args = {"--capture-buffer", "64", "--link-idle-timeout", "60"};
    RelayedPair rig([](FaultRelay& relay) { relay.stall_at(1 * kMiB); }, options);
    auto& pair = *rig.pair;
    const auto pages = make_content(92, 24 * kMiB);  // more than the link takes while stalled

    // The whole dump, inventory.img and the socket's end included, goes through while the link
    // carries nothing: CRIU's freeze does not wait for the link.
    REQUIRE(dump_pages(pair, pages).empty());
    REQUIRE(rig.relay->fault_happened());
    CHECK(wait_held(pair, [](std::uint64_t held) { return held >= 20 * kMiB; }));
    CHECK(state_of(snapshot_status(pair, Side::cache, "job1")) != "complete");

    rig.relay->release_stall();
    REQUIRE(wait_exit(pair, Side::cache) == 0);
    CHECK(wait_exit(pair, Side::proxy) == 0);
    StreamRestoreSession restore(pair.serve_dir("job1"));
    std::string got;
    REQUIRE(restore.fetch("pages-1.img", got, deadline_in(kTimeout)) == Answer::exists);
    CHECK(got == pages);
    CHECK(wait_held(pair, [](std::uint64_t held) { return held == 0; }));
}

TEST_CASE(
    "fault: link lost for good while the capture buffer holds a finished dump -> the snapshot "
    "fails, nothing partial completes, the buffer is freed",
    "[fault]") {
    PairOptions options;
    options.proxy_args = {"--capture-buffer", "64", "--link-retry", "0"};
    RelayedPair rig([](FaultRelay& relay) { relay.stall_at(1 * kMiB); }, options);
    auto& pair = *rig.pair;
    const auto pages = make_content(93, 16 * kMiB);
    REQUIRE(dump_pages(pair, pages).empty());
    REQUIRE(wait_held(pair, [](std::uint64_t held) { return held >= 12 * kMiB; }));

    rig.relay->cut_all_now();
    CHECK(wait_exit(pair, Side::proxy) == 1);
    rig.relay->release_stall();  // the next connections pass: img-cached hears of the failure
    CHECK(wait_exit(pair, Side::cache) == 1);  // img-cached never saw the dump's end
    CHECK(wait_held(pair, [](std::uint64_t held) { return held == 0; }));
    StreamRestoreSession restore(pair.serve_dir("job1"));
    CHECK(to_string(restore.request("pages-1.img", deadline_in(kTimeout)).answer) ==
          to_string(Answer::closed));
}
