// img-ctl against both daemons, and the command-line contract of all three programs.
#include <catch2/catch.hpp>

#include "support/criu_client.hpp"
#include "support/daemon_pair.hpp"
#include "support/generated_dump.hpp"
#include "support/pipe_writer.hpp"

#include "criu/stream_codec.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <future>
#include <thread>

using namespace imgtest;

namespace {

constexpr auto kTimeout = seconds(20);
// An argument error is reported before anything starts; a program still running after this
// has accepted the arguments.
constexpr auto kUsageTimeout = seconds(5);

std::string describe(const CommandResult& r) {
    return "status " + std::to_string(r.exit_status) + (r.timed_out ? " (timed out)" : "") + "\nstdout: " + r.out +
           "\nstderr: " + r.err;
}

std::size_t line_count(const std::string& text) {
    std::size_t lines = std::count(text.begin(), text.end(), '\n');
    if (!text.empty() && text.back() != '\n') ++lines;
    return lines;
}

// Argument errors: exit status 2 and a one-line message on stderr. The daemons must not start.
void check_usage_error(const std::vector<std::string>& argv) {
    std::string shown;
    for (const auto& a : argv) shown += a + " ";
    auto r = run_command(argv, kUsageTimeout);
    INFO(shown << "\n" << describe(r));
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_status == 2);
    CHECK(line_count(r.err) == 1);
}

}  // namespace

TEST_CASE("argument errors of all three programs exit 2 with a one-line message") {
    const auto& paths = daemon_paths_or_skip();
    TempDir dir;
    const std::string control = dir.path() + "/x.ctl";
    const std::string images = dir.make_dir("images");

    check_usage_error({paths.ctl});
    check_usage_error({paths.ctl, "--control", control});
    check_usage_error({paths.ctl, "--control", control, "no-such-command"});
    check_usage_error({paths.ctl, "--control", control, "wait"});
    check_usage_error({paths.ctl, "--control", control, "drop"});
    check_usage_error({paths.ctl, "--control", control, "capture"});
    check_usage_error({paths.ctl, "--bogus-option"});

    check_usage_error({paths.cached, "--control", control});  // no --listen
    check_usage_error({paths.cached, "--listen", "127.0.0.1", "--control", control});
    check_usage_error({paths.cached, "--listen", "127.0.0.1:65536", "--control", control});
    check_usage_error({paths.cached, "--listen", "127.0.0.1:7411", "--serve", "/", "--control", control});
    check_usage_error({paths.cached, "--listen", "127.0.0.1:7411", "--log-level", "chatty", "--control", control});
    check_usage_error({paths.cached, "--listen", "127.0.0.1:7411", "--no-such-option", "--control", control});

    check_usage_error({paths.proxyd, "--control", control});  // no --cache
    check_usage_error({paths.proxyd, "--cache", "localhost", "--control", control});
    check_usage_error({paths.proxyd, "--cache", "[::1]:0", "--control", control});
    check_usage_error({paths.proxyd, "--cache", "127.0.0.1:7411", "--capture", images + "=", "--control", control});
    check_usage_error({paths.proxyd, "--cache", "127.0.0.1:7411", "--frobnicate", "--control", control});
}

TEST_CASE("img-ctl wait returns 0 on both daemons once a dump is complete, and status --json parses") {
    DaemonPair pair;
    const auto files = generate_files("img", 51, 6);
    auto dumped = dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout));
    INFO(dumped);
    REQUIRE(dumped.empty());

    for (auto side : {Side::cache, Side::proxy}) {
        INFO((side == Side::cache ? "img-cached" : "img-proxyd"));
        auto wait = pair.ctl(side, {"wait", "job1"}, kTimeout);
        INFO(describe(wait));
        CHECK(wait.exit_status == 0);
        auto status = pair.ctl(side, {"status", "--json"}, kTimeout);
        INFO(describe(status));
        REQUIRE(status.exit_status == 0);
        nlohmann::json parsed;
        REQUIRE_NOTHROW(parsed = nlohmann::json::parse(status.out));
        CHECK(parsed.dump().find("job1") != std::string::npos);
    }
    auto restored = restore_and_compare(pair.serve_dir("job1"), files, {}, deadline_in(kTimeout));
    INFO(restored);
    CHECK(restored.empty());
}

TEST_CASE("img-ctl wait started before the dump returns 0 when it completes") {
    DaemonPair pair;
    const auto files = generate_files("img", 52, 4);
    // Both waits run while the dump is in progress.
    StreamDumpSession dump(pair.capture_dir("job1"));
    auto open_pipe = dump.announce("inventory.img");
    std::this_thread::sleep_for(milliseconds(200));
    auto cache_wait = std::async(std::launch::async, [&] { return pair.ctl(Side::cache, {"wait", "job1"}, kTimeout); });
    auto proxy_wait = std::async(std::launch::async, [&] { return pair.ctl(Side::proxy, {"wait", "job1"}, kTimeout); });
    std::this_thread::sleep_for(milliseconds(500));
    REQUIRE(write_and_close(std::move(open_pipe), "inv", deadline_in(kTimeout)).status == IoStatus::ok);
    dump.close();
    auto c = cache_wait.get();
    auto p = proxy_wait.get();
    INFO("cache: " << describe(c) << "\nproxy: " << describe(p));
    CHECK(c.exit_status == 0);
    CHECK(p.exit_status == 0);
}

TEST_CASE("img-ctl wait fails for a snapshot whose dump failed") {
    DaemonPair pair;
    StreamDumpSession dump(pair.capture_dir("job1"));
    REQUIRE(write_and_close(dump.announce("inventory.img"), "inv", deadline_in(kTimeout)).status == IoStatus::ok);
    dump.send_raw(imgx::criu::encode_stream_request("../escape"));
    CHECK(dump.closed_by_daemon(deadline_in(kTimeout)));
    for (auto side : {Side::cache, Side::proxy}) {
        INFO((side == Side::cache ? "img-cached" : "img-proxyd"));
        auto wait = pair.ctl(side, {"wait", "job1"}, kTimeout);
        INFO(describe(wait));
        CHECK_FALSE(wait.timed_out);
        CHECK(wait.exit_status != 0);
    }
}

TEST_CASE("img-ctl drop forgets a complete snapshot on the cache") {
    DaemonPair pair;
    const auto files = generate_files("img", 53, 3);
    auto dumped = dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout));
    INFO(dumped);
    REQUIRE(dumped.empty());
    REQUIRE(pair.ctl(Side::cache, {"wait", "job1"}, kTimeout).exit_status == 0);
    auto drop = pair.ctl(Side::cache, {"drop", "job1"}, kTimeout);
    INFO(describe(drop));
    CHECK(drop.exit_status == 0);
    auto status = pair.ctl(Side::cache, {"status", "--json"}, kTimeout);
    REQUIRE(status.exit_status == 0);
    INFO(status.out);
    // The serve endpoint stays; the snapshot must no longer be listed.
    nlohmann::json parsed;
    REQUIRE_NOTHROW(parsed = nlohmann::json::parse(status.out));
    for (const auto& snapshot : parsed.value("snapshots", nlohmann::json::array()))
        CHECK(snapshot.value("snapshot_id", "") != "job1");
}

TEST_CASE("img-ctl against a control socket nobody listens on fails without hanging") {
    const auto& paths = daemon_paths_or_skip();
    TempDir dir;
    auto r = run_command({paths.ctl, "--control", dir.path() + "/nobody.ctl", "status", "--json"}, kTimeout);
    INFO(describe(r));
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_status != 0);
    CHECK(r.exit_status != 2);  // not an argument error: the daemon is absent
}
