// A fake service manager's NOTIFY_SOCKET: the datagram socket a daemon's sd_notify() writes to.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/fd_io.hpp"
#include "util/unique_fd.hpp"

namespace imgtest {

class NotifySocket {
  public:
    // Binds an AF_UNIX datagram socket at `path`.
    explicit NotifySocket(std::string path);

    [[nodiscard]] const std::string& path() const { return path_; }
    // The environment entry that points a child at this socket.
    [[nodiscard]] std::string env() const { return "NOTIFY_SOCKET=" + path_; }

    // Waits for the next message (after the ones a previous wait matched) that has a line
    // starting with `prefix`, e.g. "READY=1" or "STATUS="; returns the whole message.
    std::optional<std::string> wait_for(std::string_view prefix, Deadline deadline);
    // Every message received so far, in order, for failure messages.
    [[nodiscard]] std::string history() const;

  private:
    // Reads one datagram if one arrives before `deadline`.
    bool receive(Deadline deadline);

    std::string path_;
    imgx::UniqueFd fd_;
    std::vector<std::string> messages_;
    std::size_t next_ = 0;  // first message a wait looks at
};

}  // namespace imgtest
