// The two-daemon harness.
#include "support/daemon_pair.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "criu/stream_codec.hpp"
#include "support/log_wait.hpp"
#include "support/test_status.hpp"

namespace imgtest {

namespace fs = std::filesystem;

namespace {

constexpr auto kStartupTimeout = seconds(10);
constexpr auto kStopGrace = seconds(5);
constexpr std::size_t kLogTailLines = 150;
// Teardown stops with SIGTERM: a transfer a test left unfinished must not hold the drain up.
constexpr const char* kShutdownGrace = "1";  // seconds

std::string env_or_empty(const char* name) {
    const char* value = std::getenv(name);
    return value ? value : "";
}

std::string log_level() {
    auto level = env_or_empty("IMG_TEST_LOG_LEVEL");
    return level.empty() ? "debug" : level;
}

// An empty configuration file in `dir`: the daemons started here never read a configuration
// installed under /etc on the machine running the tests.
std::string empty_config(const std::string& dir) {
    const std::string path = dir + "/no-config.toml";
    std::ofstream(path).flush();
    return path;
}

std::string tail_lines(const std::string& text, std::size_t count) {
    std::size_t pos = text.size();
    std::size_t lines = 0;
    while (pos > 0 && lines <= count) {
        pos = text.rfind('\n', pos - 1);
        if (pos == std::string::npos) return text;
        ++lines;
    }
    return "[...]\n" + text.substr(pos + 1);
}

}  // namespace

const DaemonPaths& daemon_paths_or_skip() {
    static const DaemonPaths paths = [] {
        DaemonPaths p{env_or_empty("IMG_PROXYD"), env_or_empty("IMG_CACHED"),
                      env_or_empty("IMG_CTL")};
        for (auto [var, path] :
             {std::pair{"IMG_PROXYD", p.proxyd}, {"IMG_CACHED", p.cached}, {"IMG_CTL", p.ctl}}) {
            if (path.empty())
                skip_test(std::string(var) + " is not set (the daemons are not built yet)");
            if (::access(path.c_str(), X_OK) != 0)
                skip_test(std::string(var) + "=" + path + " is not executable");
        }
        return p;
    }();
    return paths;
}

bool tcp_port_listening(std::uint16_t port) {
    constexpr const char* kListenState = "0A";
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string slot, local, remote, state;
            fields >> slot >> local >> remote >> state;
            auto colon = local.rfind(':');
            if (colon == std::string::npos) continue;
            if (std::stoul(local.substr(colon + 1), nullptr, 16) == port && state == kListenState)
                return true;
        }
    }
    return false;
}

bool unix_socket_listening(const std::string& path) {
    constexpr unsigned long kAcceptConnections = 0x10000;  // __SO_ACCEPTCON
    std::ifstream in("/proc/net/unix");
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string slot, refcount, protocol, flags, type, state, inode, bound;
        fields >> slot >> refcount >> protocol >> flags >> type >> state >> inode >> bound;
        if (bound == path && (std::stoul(flags, nullptr, 16) & kAcceptConnections)) return true;
    }
    return false;
}

bool wait_until_listening(const std::string& path, Deadline deadline) {
    return poll_until([&] { return unix_socket_listening(path); }, deadline);
}

bool wait_for_path(const std::string& path, Deadline deadline) {
    std::error_code ec;
    return poll_until([&] { return fs::exists(path, ec); }, deadline);
}

DaemonPair::DaemonPair(PairOptions options) : options_(std::move(options)) {
    daemon_paths_or_skip();
    proxy_control_ = dir_.path() + "/proxyd.ctl";
    cache_control_ = dir_.path() + "/cached.ctl";
    for (const auto& id : options_.snapshots) {
        dir_.make_dir("src/" + id);
        dir_.make_dir("dst/" + id);
    }
    start_cache();
    if (options_.start_proxy) start_proxy();
}

DaemonPair::~DaemonPair() {
    std::ostringstream notes;
    bool died = false;
    for (auto [side, child] :
         {std::pair{"img-proxyd", proxy_.get()}, {"img-cached", cache_.get()}}) {
        if (!child) continue;
        if ((child == proxy_.get() && proxy_killed_) || (child == cache_.get() && cache_killed_))
            continue;
        if (!child->running()) {
            died = true;
            notes << side << " exited during the test: " << child->describe() << "\n";
            continue;
        }
        if (!child->stop(kStopGrace)) notes << side << " ignored SIGTERM for 5 s and was killed\n";
    }
    const bool failed = current_test_failed() || died;
    if (failed || !env_or_empty("IMG_TEST_SHOW_LOGS").empty()) {
        std::cout << notes.str() << logs() << "(test directory kept: " << dir_.path() << ")\n";
        dir_.keep();
    } else if (!notes.str().empty()) {
        std::cout << notes.str();
    }
    if (died && std::uncaught_exceptions() == 0)
        FAIL_CHECK("a daemon exited on its own during the test");
}

std::string DaemonPair::endpoint_spec(const std::string& dir, const std::string& id) const {
    auto chain = options_.chains.find(id);
    return chain == options_.chains.end() ? dir : dir + "=" + chain->second;
}

std::string DaemonPair::log_path(Side side) const {
    return dir_.path() + (side == Side::proxy ? "/img-proxyd.log" : "/img-cached.log");
}

std::string DaemonPair::capture_dir(const std::string& id) const {
    return dir_.path() + "/src/" + id;
}
std::string DaemonPair::serve_dir(const std::string& id) const {
    return dir_.path() + "/dst/" + id;
}

const std::string& DaemonPair::control(Side side) const {
    return side == Side::proxy ? proxy_control_ : cache_control_;
}

void DaemonPair::start_cache() {
    const auto& paths = daemon_paths_or_skip();
    // Port 0 at first: the kernel picks a free port and no other test can take it in between.
    std::vector<std::string> argv = {paths.cached, "--config", empty_config(dir_.path()),
                                     "--listen", "127.0.0.1:" + std::to_string(port_)};
    std::vector<std::string> sockets = {cache_control_};
    for (const auto& id : options_.snapshots) {
        argv.insert(argv.end(), {"--serve", endpoint_spec(serve_dir(id), id)});
        sockets.push_back(serve_dir(id) + "/" + std::string(imgx::criu::kStreamServeSocket));
    }
    argv.insert(argv.end(), {"--control", cache_control_, "--log-level", log_level()});
    argv.insert(argv.end(), {"--shutdown-grace", kShutdownGrace});
    if (options_.plain_tcp) argv.push_back("--plain-tcp");
    argv.insert(argv.end(), options_.cache_args.begin(), options_.cache_args.end());
    const std::size_t log_from = log_size(log_path(Side::cache));
    cache_ = std::make_unique<ChildProcess>(argv, log_path(Side::cache));
    await_ready(*cache_, "img-cached", sockets, log_from);
}

void DaemonPair::start_proxy() {
    if (proxy_) return;
    const auto& paths = daemon_paths_or_skip();
    const std::uint16_t link_port = link_port_ != 0 ? link_port_ : port_;
    std::vector<std::string> argv = {paths.proxyd, "--config", empty_config(dir_.path()), "--cache",
                                     "127.0.0.1:" + std::to_string(link_port)};
    std::vector<std::string> sockets = {proxy_control_};
    for (const auto& id : options_.snapshots) {
        argv.insert(argv.end(), {"--capture", endpoint_spec(capture_dir(id), id)});
        sockets.push_back(capture_dir(id) + "/" + std::string(imgx::criu::kStreamCaptureSocket));
    }
    argv.insert(argv.end(), {"--control", proxy_control_, "--log-level", log_level()});
    argv.insert(argv.end(), {"--shutdown-grace", kShutdownGrace});
    if (options_.plain_tcp) argv.push_back("--plain-tcp");
    argv.insert(argv.end(), options_.proxy_args.begin(), options_.proxy_args.end());
    proxy_ = std::make_unique<ChildProcess>(argv, log_path(Side::proxy));
    await_ready(*proxy_, "img-proxyd", sockets, std::nullopt);
}

void DaemonPair::await_ready(ChildProcess& child, const std::string& what,
                             const std::vector<std::string>& sockets,
                             std::optional<std::size_t> link_log_from) {
    const auto deadline = deadline_in(kStartupTimeout);
    auto fail = [&](const std::string& why) -> void {
        throw std::runtime_error(what + " did not start: " + why + "\n" + logs());
    };
    if (link_log_from) {
        // img-cached names the port it bound in its ready line (the first start binds port 0).
        const std::uint16_t reported =
            wait_for_link_port(log_path(Side::cache), deadline, *link_log_from);
        if (reported == 0)
            fail(child.running() ? "no ready line naming the link port after 10 s"
                                 : child.describe());
        if (port_ == 0) port_ = reported;
        if (reported != port_)
            fail("link on port " + std::to_string(reported) + ", not " + std::to_string(port_));
    }
    const bool ready = poll_until(
        [&] {
            if (!child.running()) fail(child.describe());
            for (const auto& s : sockets)
                if (!unix_socket_listening(s)) return false;
            return true;
        },
        deadline);
    if (!ready) {
        std::string missing;
        for (const auto& s : sockets)
            if (!unix_socket_listening(s)) missing += " " + s;
        fail("not ready after 10 s; missing:" + missing);
    }
}

void DaemonPair::kill(Side side) {
    auto& child = side == Side::proxy ? proxy_ : cache_;
    if (!child) return;
    (side == Side::proxy ? proxy_killed_ : cache_killed_) = true;
    child->kill_now();
}

void DaemonPair::restart(Side side) {
    auto& child = side == Side::proxy ? proxy_ : cache_;
    if (child && child->running())
        throw std::logic_error("DaemonPair::restart: the daemon is still running");
    child.reset();
    if (side == Side::proxy) {
        proxy_killed_ = false;
        start_proxy();
    } else {
        cache_killed_ = false;
        start_cache();
    }
}

bool DaemonPair::stop_cache() {
    if (!cache_) return true;
    cache_killed_ = true;  // stopped on purpose: teardown does not count it as died
    return cache_->stop(kStopGrace);
}

bool DaemonPair::running(Side side) {
    auto& child = side == Side::proxy ? proxy_ : cache_;
    return child && child->running();
}

ChildProcess& DaemonPair::process(Side side) { return side == Side::proxy ? *proxy_ : *cache_; }

CommandResult DaemonPair::ctl(Side side, const std::vector<std::string>& args,
                              Clock::duration timeout) {
    std::vector<std::string> argv = {daemon_paths_or_skip().ctl, "--control", control(side)};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, timeout);
}

std::string DaemonPair::logs() const {
    std::ostringstream out;
    for (auto [name, child] :
         {std::pair{"img-cached", cache_.get()}, {"img-proxyd", proxy_.get()}}) {
        out << "----- " << name << " log";
        if (!child) {
            out << ": not started -----\n";
            continue;
        }
        out << " (" << child->log_path() << ") -----\n"
            << tail_lines(read_text_file(child->log_path()), kLogTailLines) << "\n";
    }
    return out.str();
}

}  // namespace imgtest
