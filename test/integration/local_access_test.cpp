// Local access control: socket files and their new directories are their owner's only, and a
// connection from a user not on the allow-list is closed at once and logged, without disturbing
// CRIU running as root.
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <thread>

#include "criu/stream_codec.hpp"
#include "support/daemon_pair.hpp"
#include "support/generated_dump.hpp"
#include "support/log_wait.hpp"
#include "support/test_status.hpp"

using namespace imgtest;

namespace {

constexpr auto kTimeout = seconds(20);
constexpr uid_t kNobody = 65534;

mode_t mode_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

// What a connection made as uid/gid 65534 saw.
enum class Probe { closed_by_daemon = 0, connect_failed = 1, left_open = 2, setup_failed = 3 };

// Connects to `path` from a child process running as nobody, sends a request for `name`, and
// waits at most 5 s for the daemon to close the connection.
Probe probe_as_nobody(const std::string& path, const std::string& name) {
    const std::string request = imgx::criu::encode_stream_request(name);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0)
            ::_exit(3);
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
        if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
            ::_exit(1);
        (void)!::write(fd, request.data(), request.size());
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) != 1) ::_exit(2);
        char byte;
        ::_exit(::read(fd, &byte, 1) > 0 ? 2 : 0);  // EOF or reset: closed
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    return static_cast<Probe>(WEXITSTATUS(status));
}

// Runs `img-ctl --control <side's socket> status` as nobody; its exit status (-1 if it hung).
int ctl_status_as_nobody(DaemonPair& pair, Side side) {
    const std::string ctl = daemon_paths_or_skip().ctl;
    const std::string control = pair.control(side);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0)
            ::_exit(120);
        const char* argv[] = {ctl.c_str(), "--control", control.c_str(), "status", nullptr};
        ::execv(ctl.c_str(), const_cast<char* const*>(argv));
        ::_exit(121);
    }
    int status = 0;
    if (!poll_until([&] { return ::waitpid(child, &status, WNOHANG) != 0; },
                    deadline_in(kTimeout))) {
        ::kill(child, SIGKILL);
        ::waitpid(child, &status, 0);
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Lets nobody reach the control sockets: as if an operator had loosened the modes.
void open_control_sockets(const DaemonPair& pair) {
    std::filesystem::permissions(pair.dir().path(), std::filesystem::perms(0711));
    for (auto side : {Side::proxy, Side::cache})
        std::filesystem::permissions(pair.control(side), std::filesystem::perms(0666));
}

}  // namespace

TEST_CASE("sockets are created 0600 and the directories created for them 0700") {
    DaemonPair pair;
    CHECK(mode_of(pair.capture_dir("job1") + "/streamer-capture.sock") == 0600);
    CHECK(mode_of(pair.capture_dir("job1") + "/img-proxy.sock") == 0600);
    CHECK(mode_of(pair.serve_dir("job1") + "/streamer-serve.sock") == 0600);
    CHECK(mode_of(pair.control(Side::proxy)) == 0600);
    CHECK(mode_of(pair.control(Side::cache)) == 0600);
    const std::string fresh = pair.dir().path() + "/fresh/job2";
    const auto opened = pair.ctl(Side::proxy, {"capture", fresh});
    INFO(opened.out << opened.err);
    REQUIRE(opened.exit_status == 0);
    CHECK(mode_of(fresh) == 0700);
    CHECK(mode_of(fresh + "/streamer-capture.sock") == 0600);
}

// The last two need root; without it they skip the whole executable.
TEST_CASE("a user not on the allow-list is refused and logged; CRIU as root goes on") {
    if (::geteuid() != 0) skip_test("connecting as another user needs root");
    DaemonPair pair;
    // Open the way for the test's stranger: as if an operator had loosened the modes.
    for (const auto& dir :
         {pair.dir().path(), pair.dir().path() + "/src", pair.dir().path() + "/dst",
          pair.capture_dir("job1"), pair.serve_dir("job1")})
        std::filesystem::permissions(dir, std::filesystem::perms(0711));
    for (const auto& socket : {pair.capture_dir("job1") + "/streamer-capture.sock",
                               pair.serve_dir("job1") + "/streamer-serve.sock"}) {
        std::filesystem::permissions(socket, std::filesystem::perms(0666));
        CHECK(static_cast<int>(probe_as_nobody(socket, "inventory.img")) ==
              static_cast<int>(Probe::closed_by_daemon));
    }
    const auto logs = pair.logs();
    CHECK(logs.find("refused a connection to " + pair.capture_dir("job1")) != std::string::npos);
    CHECK(logs.find("refused a connection to " + pair.serve_dir("job1")) != std::string::npos);
    CHECK(logs.find("uid 65534") != std::string::npos);

    const auto files = generate_files("img", 71, 5);
    const auto dumped = dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout));
    INFO(dumped);
    REQUIRE(dumped.empty());
    const auto restored =
        restore_and_compare(pair.serve_dir("job1"), files, {"memfd.img"}, deadline_in(kTimeout));
    INFO(restored);
    CHECK(restored.empty());
}

TEST_CASE("the control socket refuses users not on the allow-list and serves those on it") {
    if (::geteuid() != 0) skip_test("connecting as another user needs root");
    PairOptions refused_options;
    DaemonPair refused(refused_options);
    open_control_sockets(refused);
    CHECK(ctl_status_as_nobody(refused, Side::proxy) != 0);
    CHECK(ctl_status_as_nobody(refused, Side::cache) != 0);
    CHECK(refused.logs().find("refused a connection to the control socket") != std::string::npos);

    PairOptions allowed_options;
    allowed_options.proxy_args = {"--allow-uid", std::to_string(kNobody)};
    allowed_options.cache_args = {"--allow-gid", std::to_string(kNobody)};
    DaemonPair allowed(allowed_options);
    open_control_sockets(allowed);
    CHECK(ctl_status_as_nobody(allowed, Side::proxy) == 0);
    CHECK(ctl_status_as_nobody(allowed, Side::cache) == 0);
    CHECK(allowed.logs().find(
              "local access to CRIU endpoints and the control socket: uid 0, 65534") !=
          std::string::npos);
}
