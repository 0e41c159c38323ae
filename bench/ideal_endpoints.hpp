// The simplest possible --stream endpoints, for honest baselines: a capture sink that polls all
// of CRIU's pipes and read()s them into pre-faulted memory, and a restore feeder that vmsplice()s
// pre-loaded memory into CRIU's pipes. No checksum, no link, no store: what the daemons are
// measured against ("freeze / ideal sink", "restore / ideal feeder").
#pragma once

#include <exception>
#include <functional>
#include <string>
#include <thread>

#include "snapshot_image.hpp"
#include "util/unique_fd.hpp"

namespace imgx::bench {

// A UNIX socket at `path` that takes one connection and hands it to `serve` on its own thread.
class OneShotEndpoint {
  public:
    OneShotEndpoint(std::string path, std::function<void(UniqueFd)> serve);
    OneShotEndpoint(const OneShotEndpoint&) = delete;
    OneShotEndpoint& operator=(const OneShotEndpoint&) = delete;
    // Joins the thread (a connection that never came ends it by the listener's timeout).
    ~OneShotEndpoint();

    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    // Waits for the connection to be served; rethrows what `serve` threw.
    void finish();

  private:
    std::string path_;
    UniqueFd listener_;
    std::exception_ptr error_;
    std::thread thread_;
};

// Takes a dump of `image` as CRIU sends it: every file's bytes land in `into` at the file's
// offset. Throws std::runtime_error on a protocol break, an unknown file or a wrong length.
void sink_dump(UniqueFd socket, const SnapshotImage& image, const Arena& into);

// Serves a restore of `image` from its own (pre-loaded) memory: "no" for names it does not hold,
// otherwise the bytes vmsplice()d into the pipe CRIU passes. Throws std::runtime_error on a
// protocol break.
void feed_restore(UniqueFd socket, const SnapshotImage& image);

}  // namespace imgx::bench
