// The daemons under a service manager: sd_notify messages, the watchdog, socket activation and
// SIGHUP reload, against a real datagram NOTIFY_SOCKET and sockets passed as systemd passes them.
#include <signal.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "criu/stream_codec.hpp"
#include "support/daemon_pair.hpp"
#include "support/generated_dump.hpp"
#include "support/log_wait.hpp"
#include "support/service_daemon.hpp"

using namespace imgtest;

namespace {

constexpr auto kTimeout = seconds(20);

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string serve_socket(const std::string& dir) {
    return dir + "/" + std::string(imgx::criu::kStreamServeSocket);
}
std::string capture_socket(const std::string& dir) {
    return dir + "/" + std::string(imgx::criu::kStreamCaptureSocket);
}

}  // namespace

TEST_CASE(
    "img-cached sends READY=1 once every socket listens, then STATUS= lines, and STOPPING=1 on "
    "SIGTERM") {
    const auto& paths = daemon_paths_or_skip();
    TempDir dir;
    const std::string control = dir.path() + "/cached.ctl";
    const std::string serve = dir.make_dir("dst/job1");
    ServiceDaemon cache(dir.path(), "img-cached",
                        {paths.cached, "--listen", "127.0.0.1:0", "--plain-tcp", "--serve", serve,
                         "--control", control});
    const auto port = wait_for_link_port(dir.path() + "/img-cached.log", deadline_in(kTimeout));
    REQUIRE(port != 0);
    // READY=1 has arrived (the constructor waited for it): everything must listen already.
    CHECK(tcp_port_listening(port));
    CHECK(unix_socket_listening(control));
    CHECK(unix_socket_listening(serve_socket(serve)));

    auto status = cache.notify().wait_for("STATUS=", deadline_in(kTimeout));
    REQUIRE(status);
    CHECK(status->find("0 active snapshots") != std::string::npos);
    CHECK(status->find("link on 127.0.0.1:" + std::to_string(port)) != std::string::npos);

    cache.signal(SIGTERM);
    CHECK(cache.notify().wait_for("STOPPING=1", deadline_in(kTimeout)));
    CHECK(cache.wait_exit_status(deadline_in(kTimeout)) == 0);
}

TEST_CASE(
    "img-proxyd sends READY=1 once its endpoints and control socket listen, even with img-cached "
    "away") {
    const auto& paths = daemon_paths_or_skip();
    TempDir dir;
    const std::string control = dir.path() + "/proxyd.ctl";
    const std::string capture = dir.make_dir("src/job1");
    const ReservedPort nobody;  // no img-cached: connections to it are refused
    ServiceDaemon proxy(dir.path(), "img-proxyd",
                        {paths.proxyd, "--cache", nobody.address(), "--plain-tcp", "--capture",
                         capture, "--control", control});
    CHECK(unix_socket_listening(control));
    CHECK(unix_socket_listening(capture_socket(capture)));
    auto status = proxy.notify().wait_for("STATUS=", deadline_in(kTimeout));
    REQUIRE(status);
    CHECK(status->find("0 active snapshots") != std::string::npos);
    proxy.signal(SIGINT);
    CHECK(proxy.notify().wait_for("STOPPING=1", deadline_in(kTimeout)));
    CHECK(proxy.wait_exit_status(deadline_in(kTimeout)) == 0);
}

TEST_CASE("with WATCHDOG_USEC set, the daemons send WATCHDOG=1 again and again") {
    const auto& paths = daemon_paths_or_skip();
    TempDir dir;
    ServiceEnvironment watchdog{{"WATCHDOG_USEC=400000"}, {}, {}};
    ServiceDaemon cache(dir.path(), "img-cached",
                        {paths.cached, "--listen", "127.0.0.1:0", "--plain-tcp", "--control",
                         dir.path() + "/cached.ctl"},
                        watchdog);
    const auto port = wait_for_link_port(dir.path() + "/img-cached.log", deadline_in(kTimeout));
    REQUIRE(port != 0);
    ServiceDaemon proxy(dir.path(), "img-proxyd",
                        {paths.proxyd, "--cache", "127.0.0.1:" + std::to_string(port),
                         "--plain-tcp", "--control", dir.path() + "/proxyd.ctl"},
                        watchdog);
    for (auto* daemon : {&cache, &proxy}) {
        for (int ping = 0; ping < 3; ++ping) {
            INFO("ping " << ping);
            CHECK(daemon->notify().wait_for("WATCHDOG=1", deadline_in(kTimeout)));
        }
    }
    // A watchdog meant for another process is not this daemon's.
    ServiceDaemon other(dir.path(), "img-cached-other",
                        {paths.cached, "--listen", "127.0.0.1:0", "--plain-tcp", "--control",
                         dir.path() + "/other.ctl"},
                        ServiceEnvironment{{"WATCHDOG_USEC=400000", "WATCHDOG_PID=1"}, {}, {}});
    CHECK_FALSE(other.notify().wait_for("WATCHDOG=1", deadline_in(seconds(1))));
}

TEST_CASE(
    "SIGHUP reloads the log level and the configured endpoints; flag endpoints stay; a bad file "
    "changes nothing") {
    const auto& paths = daemon_paths_or_skip();
    TempDir dir;
    const std::string config = dir.path() + "/img-cached.toml";
    const std::string from_file = dir.make_dir("dst/file1");
    const std::string added = dir.make_dir("dst/file2");
    const std::string from_flag = dir.make_dir("dst/flag1");
    const std::string listen = "listen = \"127.0.0.1:0\"\n";
    write_file(config, listen + "log_level = \"info\"\n[[serve]]\ndir = \"" + from_file + "\"\n");
    ServiceDaemon cache(dir.path(), "img-cached",
                        {paths.cached, "--config", config, "--plain-tcp", "--serve", from_flag,
                         "--control", dir.path() + "/cached.ctl"});
    CHECK(unix_socket_listening(serve_socket(from_file)));
    CHECK(unix_socket_listening(serve_socket(from_flag)));

    // The file now lists another endpoint (and no longer the first) and a lower log level.
    write_file(config, listen + "log_level = \"debug\"\n[[serve]]\ndir = \"" + added + "\"\n");
    cache.signal(SIGHUP);
    auto reloading = cache.notify().wait_for("RELOADING=1", deadline_in(kTimeout));
    REQUIRE(reloading);
    CHECK(reloading->find("MONOTONIC_USEC=") != std::string::npos);
    REQUIRE(cache.notify().wait_for("READY=1", deadline_in(kTimeout)));
    // The reload is applied before READY=1.
    CHECK(unix_socket_listening(serve_socket(added)));
    CHECK_FALSE(unix_socket_listening(serve_socket(from_file)));
    CHECK(unix_socket_listening(serve_socket(from_flag)));
    CHECK(cache.log().find("reload: log level debug (was info)") != std::string::npos);

    // An invalid file: the exact place is logged, the daemon keeps its configuration.
    write_file(config, listen + "log_level = \"loud\"\n");
    cache.signal(SIGHUP);
    REQUIRE(cache.notify().wait_for("RELOADING=1", deadline_in(kTimeout)));
    REQUIRE(cache.notify().wait_for("READY=1", deadline_in(kTimeout)));
    CHECK(cache.process().running());
    CHECK(cache.log().find(config + ":2: key 'log_level'") != std::string::npos);
    CHECK(unix_socket_listening(serve_socket(added)));
    CHECK(unix_socket_listening(serve_socket(from_flag)));
}

TEST_CASE("socket activation: the daemons use the link and control sockets they are given") {
    const auto& paths = daemon_paths_or_skip();
    TempDir dir;
    std::uint16_t link_port = 0;
    auto link = listening_tcp(link_port);
    const std::string cache_control = dir.path() + "/cached-passed.ctl";
    const std::string proxy_control = dir.path() + "/proxyd-passed.ctl";
    auto cache_control_fd = listening_unix(cache_control);
    auto proxy_control_fd = listening_unix(proxy_control);
    // --listen names the passed socket's address; the --control flags name other paths: the
    // passed sockets must win.
    const std::string link_address = "127.0.0.1:" + std::to_string(link_port);
    const std::string serve = dir.make_dir("dst/job1");
    const std::string capture = dir.make_dir("src/job1");
    ServiceDaemon cache(
        dir.path(), "img-cached",
        {paths.cached, "--listen", link_address, "--plain-tcp", "--serve", serve, "--control",
         dir.path() + "/cached-own.ctl"},
        ServiceEnvironment{{}, {link.get(), cache_control_fd.get()}, {"link", "control"}});
    ServiceDaemon proxy(
        dir.path(), "img-proxyd",
        {paths.proxyd, "--cache", "127.0.0.1:" + std::to_string(link_port), "--plain-tcp",
         "--capture", capture, "--control", dir.path() + "/proxyd-own.ctl"},
        ServiceEnvironment{{}, {proxy_control_fd.get()}, {"control"}});
    // Only the daemons hold the sockets now.
    link.reset();
    cache_control_fd.reset();
    proxy_control_fd.reset();
    CHECK_FALSE(unix_socket_listening(dir.path() + "/cached-own.ctl"));
    // One line per socket taken from systemd, with its address.
    CHECK(cache.log().find("socket activation: the 'link' socket (fd 3, " + link_address +
                           ") comes from systemd") != std::string::npos);
    CHECK(cache.log().find("socket activation: the 'control' socket (fd 4, " + cache_control +
                           ") comes from systemd") != std::string::npos);
    CHECK(proxy.log().find("socket activation: the 'control' socket (fd 3, " + proxy_control +
                           ") comes from systemd") != std::string::npos);
    CHECK_FALSE(unix_socket_listening(dir.path() + "/proxyd-own.ctl"));

    const auto files = generate_files("img", 71, 5);
    auto dumped = dump_files(capture, files, deadline_in(kTimeout));
    INFO(dumped);
    REQUIRE(dumped.empty());
    auto restored = restore_and_compare(serve, files, {"missing.img"}, deadline_in(kTimeout));
    INFO(restored);
    CHECK(restored.empty());
    for (const auto& control : {cache_control, proxy_control}) {
        auto wait = run_command({paths.ctl, "--control", control, "wait", "job1"}, kTimeout);
        INFO(control << ": " << wait.out << wait.err);
        CHECK(wait.exit_status == 0);
    }
}

TEST_CASE(
    "socket activation: a passed socket of the wrong kind or name stops the daemon with a clear "
    "error") {
    const auto& paths = daemon_paths_or_skip();
    TempDir dir;
    const std::vector<std::string> argv = {paths.cached,  "--listen",  "127.0.0.1:0",
                                           "--plain-tcp", "--control", dir.path() + "/cached.ctl"};
    SECTION("a UNIX socket named link") {
        auto wrong = listening_unix(dir.path() + "/not-tcp.sock");
        ServiceDaemon cache(dir.path(), "img-cached", argv,
                            ServiceEnvironment{{}, {wrong.get()}, {"link"}}, false);
        CHECK(cache.wait_exit_status(deadline_in(kTimeout)) == 1);
        CHECK(cache.log().find("fd 3 named 'link' is not a listening TCP socket") !=
              std::string::npos);
    }
    SECTION("an unknown name") {
        std::uint16_t port = 0;
        auto tcp = listening_tcp(port);
        ServiceDaemon cache(dir.path(), "img-cached", argv,
                            ServiceEnvironment{{}, {tcp.get()}, {"bogus"}}, false);
        CHECK(cache.wait_exit_status(deadline_in(kTimeout)) == 1);
        CHECK(cache.log().find(
                  "fd 3 named 'bogus'; img-cached takes sockets named 'link', 'control'") !=
              std::string::npos);
    }
}

TEST_CASE(
    "socket activation: a listen address other than the passed link socket's stops img-cached "
    "(exit 2, both named); without listen the passed socket is enough, reload included") {
    const auto& paths = daemon_paths_or_skip();
    TempDir dir;
    std::uint16_t port = 0;
    auto link = listening_tcp(port);
    const std::string bound = "127.0.0.1:" + std::to_string(port);
    const std::string control = dir.path() + "/cached.ctl";
    int attempt = 0;
    for (const std::string& other :
         {"0.0.0.0:" + std::to_string(port),
          "127.0.0.1:" + std::to_string(port == 65535 ? 1 : port + 1), std::string("[::1]:0")}) {
        INFO("--listen " << other);
        ServiceDaemon cache(dir.path(), "img-cached-" + std::to_string(++attempt),
                            {paths.cached, "--listen", other, "--plain-tcp", "--control", control},
                            ServiceEnvironment{{}, {link.get()}, {"link"}}, false);
        CHECK(cache.wait_exit_status(deadline_in(kTimeout)) == 2);
        CHECK(cache.log().find("systemd passed the 'link' socket bound to " + bound +
                               " but listen is " + other) != std::string::npos);
    }

    // No listen anywhere: the passed socket is the link; a reload (whose parse no longer sees
    // LISTEN_FDS) keeps working.
    const std::string config = dir.path() + "/img-cached.toml";
    write_file(config, "plain_tcp = true\ncontrol = \"" + control + "\"\n");
    ServiceDaemon cache(dir.path(), "img-cached-passed", {paths.cached, "--config", config},
                        ServiceEnvironment{{}, {link.get()}, {"link"}});
    link.reset();
    CHECK(cache.log().find("ready: link on " + bound) != std::string::npos);
    write_file(config, "plain_tcp = true\ncontrol = \"" + control + "\"\nlog_level = \"debug\"\n");
    cache.signal(SIGHUP);
    REQUIRE(cache.notify().wait_for("RELOADING=1", deadline_in(kTimeout)));
    REQUIRE(cache.notify().wait_for("READY=1", deadline_in(kTimeout)));
    CHECK(cache.log().find("reload: log level debug (was info)") != std::string::npos);
    CHECK(cache.log().find("reload refused") == std::string::npos);

    // Neither listen nor a passed socket: a configuration error, as before.
    auto none = run_command({paths.cached, "--config", config, "--check-config"}, kTimeout);
    CHECK(none.exit_status == 2);
    CHECK(none.err.find("no link address") != std::string::npos);
}
