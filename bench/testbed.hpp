// The daemon pair on loopback: img-cached and img-proxyd with their socket dirs in a temp dir.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon_process.hpp"
#include "lane_shaper.hpp"

namespace imgx::bench {

struct DaemonPaths {
    std::string proxyd;
    std::string cached;
    // Certificates made by scripts/make-throwaway-pki for a TLS link; empty: plain TCP.
    std::string tls_dir;
    // img-cached's --prefault (MiB of image memory faulted in at its start); 0: not given.
    unsigned cached_prefault_mib = 0;
    // img-proxyd's --link-streams: TCP connections (lanes) of the link.
    unsigned streams = 1;
    // img-proxyd's --capture-buffer (MiB); unset: its default.
    std::optional<unsigned> capture_buffer_mib;
    // Link connections capped by a relay between the daemons (LaneShaper); default: direct.
    LaneShaping shaping;
};

class Testbed {
  public:
    // Creates /tmp/img-bench.XXXXXX, starts img-cached (a serve dir per snapshot id) and then
    // img-proxyd (a capture dir per id), and returns once every socket exists and the link is up.
    // Throws std::runtime_error if a daemon exits or is not ready within a few seconds.
    Testbed(const DaemonPaths& paths, const std::vector<std::string>& snapshot_ids);
    Testbed(const Testbed&) = delete;
    Testbed& operator=(const Testbed&) = delete;
    // Stops both daemons and removes the temp dir.
    ~Testbed();

    [[nodiscard]] std::string capture_socket(std::size_t i) const;
    [[nodiscard]] std::string serve_socket(std::size_t i) const;
    // A path for img-bench's own sockets inside the temp dir.
    [[nodiscard]] std::string scratch_path(const std::string& name) const {
        return root_ + "/" + name;
    }
    DaemonProcess& proxyd() { return *proxyd_; }
    DaemonProcess& cached() { return *cached_; }

    // Blocks until img-proxyd reports the dump of `id` acknowledged by img-cached (the control
    // request behind `img-ctl wait`); a dump that has not started yet is waited for. Returns
    // an empty string, or what went wrong. Throws if a daemon goes away meanwhile.
    std::string wait_acknowledged(const std::string& id) const;

    // Forgets the finished dump of `id` on img-proxyd (`img-ctl drop`), so that a later wait
    // waits for the next dump instead of reporting this one. The cache is not told: a new dump
    // of the same id replaces (and frees) the old one there, and `drop` on img-cached crashes it
    // (docs/performance.md, "Bugs seen").
    void forget_on_proxy(const std::string& id) const;

    // Kills both daemons at once, which unblocks anything waiting on their sockets.
    void kill();
    // "" if both daemons still run, otherwise which one ended and how.
    std::string casualties();

  private:
    void wait_ready() const;

    std::chrono::seconds startup_timeout_{};
    std::string root_;
    std::vector<std::string> ids_;
    std::string proxy_control_, cache_control_;
    std::unique_ptr<LaneShaper> shaper_;  // outlives the daemons
    std::unique_ptr<DaemonProcess> cached_, proxyd_;
};

}  // namespace imgx::bench
