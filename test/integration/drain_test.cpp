// SIGTERM drains: the daemons stop accepting, let transfers in flight finish within the grace
// period, fail what is left so that restores fail loudly, and exit 0.
#include <signal.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "criu/stream_codec.hpp"
#include "support/content.hpp"
#include "support/criu_client.hpp"
#include "support/daemon_pair.hpp"
#include "support/generated_dump.hpp"
#include "support/log_wait.hpp"
#include "support/pipe_writer.hpp"
#include "support/service_daemon.hpp"

using namespace imgtest;

namespace {

constexpr auto kTimeout = seconds(20);

// img-cached and img-proxyd on loopback, each under its own fake service manager.
struct ServicePair {
    explicit ServicePair(const std::string& proxy_grace, const std::string& cache_grace)
        : serve(dir.make_dir("dst/job1")),
          capture(dir.make_dir("src/job1")),
          cache(dir.path(), "img-cached",
                {daemon_paths_or_skip().cached, "--listen", "127.0.0.1:0", "--plain-tcp", "--serve",
                 serve, "--control", dir.path() + "/cached.ctl", "--log-level", "debug",
                 "--shutdown-grace", cache_grace}),
          port(wait_for_link_port(dir.path() + "/img-cached.log", deadline_in(seconds(10)))),
          proxy(dir.path(), "img-proxyd",
                {daemon_paths_or_skip().proxyd, "--cache", "127.0.0.1:" + std::to_string(port),
                 "--plain-tcp", "--capture", capture, "--control", dir.path() + "/proxyd.ctl",
                 "--log-level", "debug", "--shutdown-grace", proxy_grace}) {}

    // The snapshot's entry in `img-ctl status --json` on the cache (null if absent).
    nlohmann::json cache_snapshot(const std::string& id) {
        auto status = run_command({daemon_paths_or_skip().ctl, "--control",
                                   dir.path() + "/cached.ctl", "status", "--json"},
                                  kTimeout);
        INFO(status.out << status.err);
        REQUIRE(status.exit_status == 0);
        auto parsed = nlohmann::json::parse(status.out);
        for (const auto& s : parsed.value("snapshots", nlohmann::json::array()))
            if (s.value("snapshot_id", "") == id) return s;
        return nullptr;
    }

    TempDir dir;
    std::string serve;
    std::string capture;
    ServiceDaemon cache;
    std::uint16_t port;  // the one img-cached reported (it binds port 0)
    ServiceDaemon proxy;
};

std::string capture_socket(const std::string& dir) {
    return dir + "/" + std::string(imgx::criu::kStreamCaptureSocket);
}

// A dump that never ends: inventory.img arrived on the cache, pages-1.img is still open, and a
// restore waits for it.
struct UnfinishedDump {
    explicit UnfinishedDump(ServicePair& pair)
        : session(pair.capture), first(pair.serve), waiting(pair.serve) {
        REQUIRE(write_and_close(session.announce("inventory.img"), "inv", deadline_in(kTimeout))
                    .status == IoStatus::ok);
        pages = session.announce("pages-1.img");
        make_nonblocking(pages.get());
        REQUIRE(write_all(pages.get(), "partial", deadline_in(kTimeout)).status == IoStatus::ok);
        std::string inventory;
        REQUIRE(first.fetch("inventory.img", inventory, deadline_in(kTimeout)) == Answer::exists);
        waiting.send_request("pages-1.img");
    }

    StreamDumpSession session;
    imgx::UniqueFd pages;
    StreamRestoreSession first;
    StreamRestoreSession waiting;
};

}  // namespace

TEST_CASE("SIGTERM on img-proxyd waits for a dump in flight that ends within the grace period") {
    ServicePair pair("15", "15");
    const auto content = make_content(81, 300'000);
    StreamDumpSession dump(pair.capture);
    REQUIRE(write_and_close(dump.announce("inventory.img"), "inv", deadline_in(kTimeout)).status ==
            IoStatus::ok);
    auto pages = dump.announce("pages-1.img");
    make_nonblocking(pages.get());
    REQUIRE(
        write_all(pages.get(), std::string_view(content).substr(0, 100'000), deadline_in(kTimeout))
            .status == IoStatus::ok);

    // img-proxyd has taken the dump (its accept is done) before the signal.
    REQUIRE(pair.proxy.notify().wait_for("STATUS=1 active snapshot", deadline_in(kTimeout)));
    pair.proxy.signal(SIGTERM);
    REQUIRE(pair.proxy.notify().wait_for("STOPPING=1", deadline_in(kTimeout)));
    // No new dumps: the capture socket is gone, the dump in flight goes on.
    CHECK_FALSE(unix_socket_listening(capture_socket(pair.capture)));
    CHECK(pair.proxy.process().running());
    REQUIRE(write_all(pages.get(), std::string_view(content).substr(100'000), deadline_in(kTimeout))
                .status == IoStatus::ok);
    pages.reset();
    dump.close();

    CHECK(pair.proxy.wait_exit_status(deadline_in(kTimeout)) == 0);
    StreamRestoreSession restore(pair.serve);
    std::string restored;
    CHECK(restore.fetch("pages-1.img", restored, deadline_in(kTimeout)) == Answer::exists);
    CHECK(restored == content);
    CHECK(pair.cache_snapshot("job1").value("state", "") == "complete");
    CHECK(pair.proxy.log().find("drained: every transfer finished") != std::string::npos);
}

TEST_CASE(
    "SIGTERM on img-proxyd fails a dump that outlasts the grace period on the cache too, and exits "
    "0") {
    ServicePair pair("1", "15");
    UnfinishedDump dump(pair);
    auto& waiting = dump.waiting;
    CHECK(waiting.read_reply(deadline_in(milliseconds(300))).answer == Answer::no_answer);

    pair.proxy.signal(SIGTERM);
    CHECK(pair.proxy.wait_exit_status(deadline_in(kTimeout)) == 0);
    CHECK(to_string(waiting.read_reply(deadline_in(kTimeout)).answer) == to_string(Answer::closed));
    auto snapshot = pair.cache_snapshot("job1");
    CHECK(snapshot.value("state", "") == "failed");
    CHECK(snapshot.value("error", "").find("img-proxyd stopped before the dump finished") !=
          std::string::npos);
    CHECK(pair.cache.process().running());
}

TEST_CASE(
    "SIGTERM on img-cached fails a snapshot still arriving after the grace period; its restores "
    "fail loudly") {
    ServicePair pair("15", "1");
    UnfinishedDump dump(pair);
    auto& waiting = dump.waiting;

    pair.cache.signal(SIGTERM);
    REQUIRE(pair.cache.notify().wait_for("STOPPING=1", deadline_in(kTimeout)));
    CHECK(to_string(waiting.read_reply(deadline_in(kTimeout)).answer) == to_string(Answer::closed));
    CHECK(pair.cache.wait_exit_status(deadline_in(kTimeout)) == 0);
    CHECK(pair.cache.log().find("failed 1 still in flight") != std::string::npos);
}

TEST_CASE("a second SIGTERM during the drain stops at once") {
    ServicePair pair("600", "15");
    StreamDumpSession dump(pair.capture);
    auto pages = dump.announce("pages-1.img");
    make_nonblocking(pages.get());
    REQUIRE(write_all(pages.get(), "partial", deadline_in(kTimeout)).status == IoStatus::ok);
    REQUIRE(pair.proxy.notify().wait_for("STATUS=1 active snapshot", deadline_in(kTimeout)));

    pair.proxy.signal(SIGTERM);
    REQUIRE(pair.proxy.notify().wait_for("STOPPING=1", deadline_in(kTimeout)));
    CHECK(pair.proxy.process().running());
    pair.proxy.signal(SIGTERM);
    CHECK(pair.proxy.wait_exit_status(deadline_in(kTimeout)) == 1);
}
