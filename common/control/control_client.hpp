// The img-ctl side of the control socket (blocking: img-ctl does one thing at a time).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include "control.pb.h"
#include "util/unique_fd.hpp"

namespace imgx::control {

// The daemon did not answer before the deadline (connected, but silent: e.g. a socket-activated
// daemon that cannot start). what() names the socket.
struct ControlTimeout : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Why connecting to the control socket at `path` failed with `error` (an errno value), in words
// an operator can act on: no socket file, permission denied, a stale file no daemon listens on.
std::string connect_error_text(const std::string& path, int error);

class ControlClient {
  public:
    using Clock = std::chrono::steady_clock;

    // Connects, giving up at `deadline` when set. Throws std::runtime_error with
    // connect_error_text, or ControlTimeout.
    explicit ControlClient(const std::string& path,
                           std::optional<Clock::time_point> deadline = std::nullopt);

    // Sends `request`, passes every response to `on_response` until one is final, returns that one.
    // Throws ControlTimeout when the deadline passes before the final response.
    Response call(const Request& request,
                  const std::function<void(const Response&)>& on_response = {});

  private:
    void read_exact(void* out, std::size_t size);

    std::string path_;
    UniqueFd fd_;
    std::optional<Clock::time_point> deadline_;
};

}  // namespace imgx::control
