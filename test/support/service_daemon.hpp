// One daemon started the way a service manager starts it: its own NOTIFY_SOCKET, maybe sockets.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/notify_socket.hpp"
#include "support/process.hpp"
#include "util/unique_fd.hpp"

namespace imgtest {

// Listening sockets as a service manager passes them (or, never accepted on, a daemon that does
// not answer). Throw std::runtime_error when bind or listen fails.
// TCP on 127.0.0.1, any port; `port` gets its port.
imgx::UniqueFd listening_tcp(std::uint16_t& port);
// UNIX stream, bound to `path`.
imgx::UniqueFd listening_unix(const std::string& path);

class ServiceDaemon {
  public:
    // Starts `argv` with NOTIFY_SOCKET set to a socket in `dir`, plus `service`; the log goes to
    // DIR/NAME.log. With `wait_ready`, waits for READY=1 and throws (with the log) if the
    // daemon exits first or 10 s pass.
    ServiceDaemon(const std::string& dir, const std::string& name,
                  const std::vector<std::string>& argv, ServiceEnvironment service = {},
                  bool wait_ready = true);
    ServiceDaemon(const ServiceDaemon&) = delete;
    ServiceDaemon& operator=(const ServiceDaemon&) = delete;
    // SIGTERM and a bounded wait if still running; prints the log if the test failed.
    ~ServiceDaemon();

    NotifySocket& notify() { return notify_; }
    ChildProcess& process() { return *child_; }
    void signal(int signo);
    // Waits for the exit; its status (exit code, or -1 when killed by a signal or still running).
    int wait_exit_status(Deadline deadline);
    [[nodiscard]] std::string log() const;

  private:
    std::string name_;
    NotifySocket notify_;
    std::unique_ptr<ChildProcess> child_;
};

}  // namespace imgtest
