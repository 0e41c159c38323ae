// Runs img-cached and img-proxyd as child processes on loopback for one integration test.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/fd_io.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace imgtest {

// Executables from env IMG_PROXYD, IMG_CACHED, IMG_CTL; skips the test (exit 77) when one is
// unset or not executable (the daemons are not built yet).
struct DaemonPaths {
    std::string proxyd;
    std::string cached;
    std::string ctl;
};
const DaemonPaths& daemon_paths_or_skip();

// True if something listens on TCP `port` (read from /proc/net/tcp and tcp6).
bool tcp_port_listening(std::uint16_t port);
// True if a UNIX socket bound to `path` is listening (read from /proc/net/unix), so a stale
// socket file left by a dead daemon does not count.
bool unix_socket_listening(const std::string& path);
// Polls unix_socket_listening(); false at the deadline.
bool wait_until_listening(const std::string& path, Deadline deadline);
// Polls for a file (a socket) to exist; false at the deadline.
bool wait_for_path(const std::string& path, Deadline deadline);

struct PairOptions {
    // Each id gets `--capture ROOT/src/ID` on the proxy and `--serve ROOT/dst/ID` on the cache:
    // two images directories with the same last component, as on two hosts.
    std::vector<std::string> snapshots = {"job1"};
    bool start_proxy = true;
    // img-remote chain names: an id listed here is opened as `--capture ROOT/src/ID=NAME` and
    // `--serve ROOT/dst/ID=NAME` (e.g. every -D of a pre-dump chain with the same NAME). Ids
    // not listed keep the default name, the last component of the directory.
    std::map<std::string, std::string> chains;
    // The link: plain TCP (--plain-tcp on both daemons) unless false; then the test gives the
    // TLS flags in proxy_args and cache_args.
    bool plain_tcp = true;
    // Extra arguments appended to each daemon's command line (e.g. {"--remote-data", "socket"}).
    std::vector<std::string> proxy_args;
    std::vector<std::string> cache_args;
};

enum class Side { proxy, cache };

class DaemonPair {
  public:
    explicit DaemonPair(PairOptions options = {});
    DaemonPair(const DaemonPair&) = delete;
    DaemonPair& operator=(const DaemonPair&) = delete;
    // Stops both daemons (SIGTERM, bounded wait, SIGKILL); prints their logs if the test
    // failed and keeps the temp dir then. A daemon that died on its own fails the test.
    ~DaemonPair();

    [[nodiscard]] std::string capture_dir(const std::string& id) const;
    [[nodiscard]] std::string serve_dir(const std::string& id) const;
    [[nodiscard]] const std::string& control(Side side) const;
    // img-cached's link port: the one it reported binding (it is started on port 0).
    [[nodiscard]] std::uint16_t port() const { return port_; }
    // The daemon's log file (a restarted daemon appends to it).
    [[nodiscard]] std::string log_path(Side side) const;
    [[nodiscard]] const TempDir& dir() const { return dir_; }

    void start_proxy();
    // Where img-proxyd started after this connects: a relay's port instead of img-cached's.
    void route_link_through(std::uint16_t port) { link_port_ = port; }
    // SIGKILL a daemon (no goodbye on the link, no cleanup); teardown does not count it as a
    // daemon that died on its own.
    void kill(Side side);
    // Starts a new daemon with the same arguments (after kill), on the same port (the one the
    // first img-cached reported) and sockets; its log is appended to the old one.
    void restart(Side side);
    void kill_proxy() { kill(Side::proxy); }
    void restart_proxy() { restart(Side::proxy); }
    void kill_cache() { kill(Side::cache); }
    void restart_cache() { restart(Side::cache); }
    // SIGTERM img-cached and wait for it to exit (a clean stop, before restart); true if it
    // exited within the grace period.
    bool stop_cache();
    [[nodiscard]] bool running(Side side);
    ChildProcess& process(Side side);

    // Runs `img-ctl --control <side's control socket> args...` (bounded).
    CommandResult ctl(Side side, const std::vector<std::string>& args,
                      Clock::duration timeout = seconds(20));

    // Both logs, each under a header, cut to their last lines.
    std::string logs() const;

  private:
    void start_cache();
    [[nodiscard]] std::string endpoint_spec(const std::string& dir, const std::string& id) const;
    // `link_log_from`: img-cached's log offset before it started (its ready line names the port).
    void await_ready(ChildProcess& child, const std::string& what,
                     const std::vector<std::string>& sockets,
                     std::optional<std::size_t> link_log_from);

    PairOptions options_;
    TempDir dir_;
    std::uint16_t port_ = 0;       // 0 until img-cached first reported its port
    std::uint16_t link_port_ = 0;  // 0: port_
    std::string proxy_control_;
    std::string cache_control_;
    std::unique_ptr<ChildProcess> cache_;
    std::unique_ptr<ChildProcess> proxy_;
    bool proxy_killed_ = false;
    bool cache_killed_ = false;
};

}  // namespace imgtest
