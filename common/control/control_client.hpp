// The img-ctl side of the control socket (blocking: img-ctl does one thing at a time).
#pragma once

#include <functional>
#include <string>

#include "control.pb.h"
#include "util/unique_fd.hpp"

namespace imgx::control {

class ControlClient {
  public:
    // Throws std::runtime_error naming the path if the daemon is not there.
    explicit ControlClient(const std::string& path);

    // Sends `request`, passes every response to `on_response` until one is final, returns that one.
    Response call(const Request& request,
                  const std::function<void(const Response&)>& on_response = {});

  private:
    std::string path_;
    UniqueFd fd_;
};

}  // namespace imgx::control
