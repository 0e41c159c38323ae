// img-ctl against both daemons, and the command-line contract of all three programs.
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "criu/stream_codec.hpp"
#include "support/criu_client.hpp"
#include "support/daemon_pair.hpp"
#include "support/daemon_waits.hpp"
#include "support/generated_dump.hpp"
#include "support/log_wait.hpp"
#include "support/pipe_writer.hpp"
#include "support/service_daemon.hpp"

using namespace imgtest;

namespace {

constexpr auto kTimeout = seconds(20);
// An argument error is reported before anything starts; a program still running after this
// has accepted the arguments.
constexpr auto kUsageTimeout = seconds(5);

// A progress line of `img-ctl wait job1` ("img-proxyd: 'job1' capturing: ..."), not its summary.
const std::regex kProgressLine(": 'job1' [a-z]+: ");

// Waits until both daemons list job1 as a running dump.
void require_running(DaemonPair& pair) {
    for (auto [side, state] : {std::pair{Side::proxy, "capturing"}, {Side::cache, "receiving"}}) {
        INFO("waiting for job1 " << state);
        REQUIRE(wait_for_status(
            pair, side, "job1", [&](const auto& s) { return state_of(s) == state; },
            deadline_in(kTimeout)));
    }
}

std::string describe(const CommandResult& r) {
    return "status " + std::to_string(r.exit_status) + (r.timed_out ? " (timed out)" : "") +
           "\nstdout: " + r.out + "\nstderr: " + r.err;
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

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

// Output of `img-ctl wait` into a pipe: plain lines only (no carriage return, no terminal escape),
// each naming the daemon, the last one the summary. Returns the last line.
std::string check_plain_wait_output(const CommandResult& r, const std::string& daemon) {
    INFO(describe(r));
    CHECK(r.out.find('\r') == std::string::npos);
    CHECK(r.out.find('\033') == std::string::npos);
    CHECK((!r.out.empty() && r.out.back() == '\n'));
    const auto lines = lines_of(r.out);
    REQUIRE_FALSE(lines.empty());
    for (const auto& line : lines) CHECK(line.rfind(daemon + ": ", 0) == 0);
    return lines.back();
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
    check_usage_error(
        {paths.cached, "--listen", "127.0.0.1:7411", "--serve", "/", "--control", control});
    check_usage_error({paths.cached, "--listen", "127.0.0.1:7411", "--log-level", "chatty",
                       "--control", control});
    check_usage_error(
        {paths.cached, "--listen", "127.0.0.1:7411", "--no-such-option", "--control", control});

    check_usage_error({paths.proxyd, "--control", control});  // no --cache
    check_usage_error({paths.proxyd, "--cache", "localhost", "--control", control});
    check_usage_error({paths.proxyd, "--cache", "[::1]:0", "--control", control});
    check_usage_error({paths.proxyd, "--cache", "127.0.0.1:7411", "--capture", images + "=",
                       "--control", control});
    check_usage_error(
        {paths.proxyd, "--cache", "127.0.0.1:7411", "--frobnicate", "--control", control});
}

TEST_CASE("all three programs print their name and version with --version, exit 0") {
    const auto& paths = daemon_paths_or_skip();
    for (const auto& [program, name] :
         {std::pair{paths.ctl, "img-ctl"}, std::pair{paths.proxyd, "img-proxyd"},
          std::pair{paths.cached, "img-cached"}}) {
        auto r = run_command({program, "--version"}, kUsageTimeout);
        INFO(describe(r));
        CHECK(r.exit_status == 0);
        const auto lines = lines_of(r.out);
        REQUIRE(lines.size() == 1);
        CHECK(lines[0].rfind(std::string(name) + " ", 0) == 0);
        CHECK(lines[0].size() > std::string(name).size() + 1);
    }
}

TEST_CASE(
    "img-ctl wait returns 0 on both daemons once a dump is complete, and status --json parses") {
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
    require_running(pair);
    BackgroundCtl cache_wait(pair, Side::cache, {"wait", "job1"}, "cache-wait");
    BackgroundCtl proxy_wait(pair, Side::proxy, {"wait", "job1"}, "proxy-wait");
    // Each wait has answered with a progress line of the running dump before it ends.
    REQUIRE(cache_wait.wait_for_output(kProgressLine, deadline_in(kTimeout)));
    REQUIRE(proxy_wait.wait_for_output(kProgressLine, deadline_in(kTimeout)));
    REQUIRE(write_and_close(std::move(open_pipe), "inv", deadline_in(kTimeout)).status ==
            IoStatus::ok);
    dump.close();
    auto c = cache_wait.wait_exit(deadline_in(kTimeout));
    auto p = proxy_wait.wait_exit(deadline_in(kTimeout));
    INFO("cache: " << describe(c) << "\nproxy: " << describe(p));
    CHECK(c.exit_status == 0);
    CHECK(p.exit_status == 0);
}

TEST_CASE(
    "img-ctl wait fails (exit 1) for a snapshot whose dump failed, its last line saying what had "
    "moved") {
    DaemonPair pair;
    StreamDumpSession dump(pair.capture_dir("job1"));
    REQUIRE(write_and_close(dump.announce("inventory.img"), "inv", deadline_in(kTimeout)).status ==
            IoStatus::ok);
    dump.send_raw(imgx::criu::encode_stream_request("../escape"));
    CHECK(dump.closed_by_daemon(deadline_in(kTimeout)));
    for (auto [side, daemon] :
         {std::pair{Side::cache, "img-cached"}, std::pair{Side::proxy, "img-proxyd"}}) {
        auto wait = pair.ctl(side, {"wait", "job1"}, kTimeout);
        INFO(describe(wait));
        CHECK_FALSE(wait.timed_out);
        CHECK(wait.exit_status == 1);
        const auto last = check_plain_wait_output(wait, daemon);
        CHECK(last.rfind(std::string(daemon) + ": snapshot 'job1' failed after ", 0) == 0);
        CHECK(last.find("moved") != std::string::npos);
        CHECK(wait.err.find(daemon) != std::string::npos);
    }
}

TEST_CASE(
    "img-ctl wait into a pipe prints plain progress lines and a final summary, exit 0 when "
    "complete") {
    DaemonPair pair;
    StreamDumpSession dump(pair.capture_dir("job1"));
    auto open_pipe = dump.announce("inventory.img");
    require_running(pair);
    // Started while the dump runs: a first progress line at once, then the summary.
    BackgroundCtl proxy_wait(pair, Side::proxy, {"wait", "job1"}, "proxy-wait");
    REQUIRE(proxy_wait.wait_for_output(kProgressLine, deadline_in(kTimeout)));
    REQUIRE(write_and_close(std::move(open_pipe), "inv", deadline_in(kTimeout)).status ==
            IoStatus::ok);
    dump.close();
    auto p = proxy_wait.wait_exit(deadline_in(kTimeout));
    CHECK(p.exit_status == 0);
    const auto last = check_plain_wait_output(p, "img-proxyd");
    CHECK(line_count(p.out) >= 2);
    CHECK(last.rfind("img-proxyd: snapshot 'job1' complete: 1 files, 3 B in ", 0) == 0);
    CHECK(last.find("/s)") != std::string::npos);
    CHECK(p.out.find("'job1' capturing: ") != std::string::npos);

    auto c = pair.ctl(Side::cache, {"wait", "job1"}, kTimeout);
    CHECK(c.exit_status == 0);
    CHECK(check_plain_wait_output(c, "img-cached")
              .rfind("img-cached: snapshot 'job1' complete: 1 files, 3 B in ", 0) == 0);
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

TEST_CASE(
    "img-ctl drop on img-proxyd cancels a stream dump still waiting for the link: CRIU's "
    "connection is closed before img-cached hears of the dump") {
    PairOptions options;
    options.proxy_args = {"--link-wait", "120"};
    DaemonPair pair(options);
    const auto mark = log_size(pair.log_path(Side::proxy));
    pair.kill_cache();
    // The dump must begin once img-proxyd knows the link is down, not while it still thinks it up.
    REQUIRE(wait_for_log_line(pair.log_path(Side::proxy),
                              std::regex("cannot reach img-cached at .*; retrying"),
                              deadline_in(kTimeout), mark));
    StreamDumpSession dump(pair.capture_dir("job1"));
    REQUIRE(wait_for_log_line(pair.log_path(Side::proxy),
                              std::regex("dump of snapshot 'job1' by CRIU .* waits for the link"),
                              deadline_in(kTimeout), mark));
    auto drop = pair.ctl(Side::proxy, {"drop", "job1"}, kTimeout);
    INFO(describe(drop));
    CHECK(drop.exit_status == 0);
    CHECK(dump.closed_by_daemon(deadline_in(kTimeout)));
    CHECK(wait_for_log_line(pair.log_path(Side::proxy),
                            std::regex("dump of snapshot 'job1' by CRIU .* was dropped by the "
                                       "operator while it waited for the link"),
                            deadline_in(kTimeout), mark));
    // A second drop finds nothing.
    CHECK(pair.ctl(Side::proxy, {"drop", "job1"}, kTimeout).exit_status != 0);
}

TEST_CASE("img-ctl against a control socket nobody listens on fails without hanging") {
    const auto& paths = daemon_paths_or_skip();
    TempDir dir;
    auto r = run_command({paths.ctl, "--control", dir.path() + "/nobody.ctl", "status", "--json"},
                         kTimeout);
    INFO(describe(r));
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_status != 0);
    CHECK(r.exit_status != 2);  // not an argument error: the daemon is absent
}

TEST_CASE(
    "img-ctl gives up on a control socket that never answers, saying so: status after 5 s or "
    "--timeout, wait after its status check") {
    const auto& paths = daemon_paths_or_skip();
    TempDir dir;
    const std::string control = dir.path() + "/silent.ctl";
    // Bound and listening, never accepted on: connections succeed (the backlog) and requests
    // are never answered, as with a socket-activated daemon that cannot start.
    const auto listener = listening_unix(control);
    struct Case {
        std::vector<std::string> args;
        seconds at_most;
    };
    const std::vector<Case> cases = {
        {{"status"}, seconds(8)},
        {{"status", "--timeout", "1"}, seconds(4)},
        {{"wait", "job1"}, seconds(8)},  // no --timeout: the wait itself has no limit
        {{"wait", "job1", "--timeout", "1"}, seconds(4)},
        {{"drop", "job1"}, seconds(8)},
    };
    for (const auto& c : cases) {
        std::vector<std::string> argv = {paths.ctl, "--control", control};
        argv.insert(argv.end(), c.args.begin(), c.args.end());
        const auto started = Clock::now();
        auto r = run_command(argv, kTimeout);
        const auto took = Clock::now() - started;
        INFO(c.args[0] << (c.args.size() > 2 ? " --timeout 1" : "") << ": " << describe(r));
        CHECK_FALSE(r.timed_out);
        CHECK(r.exit_status == 1);
        CHECK(took < c.at_most);
        CHECK(r.err.find("timed out") != std::string::npos);
        CHECK(r.err.find("the daemon at " + control + " did not answer in time") !=
              std::string::npos);
        CHECK(line_count(r.err) == 1);
    }
}

TEST_CASE(
    "img-ctl on a socket file nobody listens on says it is stale, not that nothing is there") {
    const auto& paths = daemon_paths_or_skip();
    TempDir dir;
    const std::string control = dir.path() + "/stale.ctl";
    listening_unix(control);  // closed at once: the file stays, as after a daemon's crash
    auto r = run_command({paths.ctl, "--control", control, "status"}, kTimeout);
    INFO(describe(r));
    CHECK(r.exit_status == 1);
    CHECK(r.err == "img-ctl: " + control +
                       " exists but no daemon listens on it (a stale socket file: the daemon "
                       "stopped or is not running)\n");
}

namespace {

// The generation of `id` in `img-ctl status --json` on `side`, or 0 when the daemon lists none.
std::uint64_t generation_of(DaemonPair& pair, Side side, const std::string& id) {
    auto status = pair.ctl(side, {"status", "--json"}, kTimeout);
    INFO(describe(status));
    REQUIRE(status.exit_status == 0);
    const auto parsed = nlohmann::json::parse(status.out);
    for (const auto& snapshot : parsed.value("snapshots", nlohmann::json::array())) {
        // Counts are JSON numbers (not proto3's strings for 64-bit integers).
        if (snapshot.value("snapshot_id", "") == id) {
            CHECK(snapshot["generation"].is_number_unsigned());
            CHECK(snapshot["bytes"].is_number_unsigned());
            CHECK(snapshot["files"].is_number());
            return snapshot["generation"].get<std::uint64_t>();
        }
    }
    return 0;
}

// Connections open on the control socket at `path` (as listed in /proc/net/unix, where the
// daemon's end of an accepted connection carries the socket's path; St 03: connected).
std::size_t control_connections(const std::string& path) {
    std::ifstream in("/proc/net/unix");
    std::string line;
    std::getline(in, line);  // the header
    std::size_t count = 0;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string num, refs, protocol, flags, type, state, inode, socket_path;
        fields >> num >> refs >> protocol >> flags >> type >> state >> inode >> socket_path;
        if (socket_path == path && state == "03") ++count;
    }
    return count;
}

}  // namespace

TEST_CASE("status numbers the dumps of a reused id; wait --generation waits for the later one") {
    DaemonPair pair;
    const auto files = generate_files("img", 54, 3);
    REQUIRE(dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout)).empty());
    for (auto side : {Side::cache, Side::proxy}) {
        REQUIRE(pair.ctl(side, {"wait", "job1"}, kTimeout).exit_status == 0);
        CHECK(generation_of(pair, side, "job1") == 1);
        CHECK(pair.ctl(side, {"status"}, kTimeout).out.find("GEN") != std::string::npos);
    }
    // Waits for generation 2 arrive before the second dump: the complete first one must not end
    // them.
    auto cache_wait = std::async(std::launch::async, [&] {
        return pair.ctl(Side::cache, {"wait", "job1", "--generation", "2"}, kTimeout);
    });
    auto proxy_wait = std::async(std::launch::async, [&] {
        return pair.ctl(Side::proxy, {"wait", "job1", "--generation", "2"}, kTimeout);
    });
    CHECK(cache_wait.wait_for(milliseconds(700)) == std::future_status::timeout);
    CHECK(proxy_wait.wait_for(milliseconds(0)) == std::future_status::timeout);
    REQUIRE(
        dump_files(pair.capture_dir("job1"), generate_files("img", 55, 2), deadline_in(kTimeout))
            .empty());
    for (auto* wait : {&cache_wait, &proxy_wait}) {
        const auto r = wait->get();
        INFO(describe(r));
        CHECK(r.exit_status == 0);
        CHECK(r.out.find("complete: 3 files") != std::string::npos);  // and inventory.img
    }
    CHECK(generation_of(pair, Side::cache, "job1") == 2);
    CHECK(generation_of(pair, Side::proxy, "job1") == 2);
}

TEST_CASE(
    "wait --next while the previous dump of the id failed waits for the new dump, not the old "
    "one") {
    DaemonPair pair;
    {
        StreamDumpSession dump(pair.capture_dir("job1"));
        REQUIRE(
            write_and_close(dump.announce("inventory.img"), "inv", deadline_in(kTimeout)).status ==
            IoStatus::ok);
        dump.send_raw(imgx::criu::encode_stream_request("../escape"));
        CHECK(dump.closed_by_daemon(deadline_in(kTimeout)));
    }
    for (auto side : {Side::cache, Side::proxy})
        REQUIRE(pair.ctl(side, {"wait", "job1"}, kTimeout).exit_status == 1);
    auto cache_wait = std::async(std::launch::async, [&] {
        return pair.ctl(Side::cache, {"wait", "job1", "--next"}, kTimeout);
    });
    auto proxy_wait = std::async(std::launch::async, [&] {
        return pair.ctl(Side::proxy, {"wait", "job1", "--next"}, kTimeout);
    });
    // Long enough for both to have read the current generation and be waiting.
    CHECK(cache_wait.wait_for(milliseconds(700)) == std::future_status::timeout);
    CHECK(proxy_wait.wait_for(milliseconds(0)) == std::future_status::timeout);
    const auto files = generate_files("img", 56, 3);
    REQUIRE(dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout)).empty());
    for (auto [wait, daemon] :
         {std::pair{&cache_wait, "img-cached"}, std::pair{&proxy_wait, "img-proxyd"}}) {
        const auto r = wait->get();
        INFO(describe(r));
        CHECK(r.exit_status == 0);
        CHECK(check_plain_wait_output(r, daemon).rfind(
                  std::string(daemon) + ": snapshot 'job1' complete: 4 files", 0) == 0);
    }
}

TEST_CASE(
    "a wait whose img-ctl gave up (--timeout) ends on the daemon: no connection is left open") {
    DaemonPair pair;
    for (auto side : {Side::cache, Side::proxy}) {
        INFO((side == Side::cache ? "img-cached" : "img-proxyd"));
        const std::string& control = pair.control(side);
        constexpr int kAbandoned = 3;
        std::vector<std::future<CommandResult>> waits;
        for (int i = 0; i < kAbandoned; ++i)
            waits.push_back(std::async(std::launch::async, [&] {
                return pair.ctl(side, {"wait", "never-dumped", "--timeout", "2"}, kTimeout);
            }));
        // The waits are seen on the daemon while img-ctl runs (the check below is not vacuous).
        std::size_t most = 0;
        for (const auto seen_until = deadline_in(seconds(2));
             Clock::now() < seen_until && most < kAbandoned;
             std::this_thread::sleep_for(milliseconds(20)))  // bounded poll
            most = std::max(most, control_connections(control));
        CHECK(most >= 1);
        for (auto& w : waits) {
            const auto r = w.get();
            INFO(describe(r));
            CHECK(r.exit_status == 1);
            CHECK(r.err.find("timed out") != std::string::npos);
        }
        // Once img-ctl is gone the daemon ends each wait and closes its connection.
        const auto deadline = deadline_in(seconds(5));
        while (control_connections(control) > 0 && Clock::now() < deadline)
            std::this_thread::sleep_for(milliseconds(50));  // bounded poll
        CHECK(control_connections(control) == 0);
    }
}
