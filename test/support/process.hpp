// Child processes for the tests: daemons with logs in files, and short commands with captured
// output.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "support/fd_io.hpp"

namespace imgtest {

// What a service manager gives a daemon beyond its command line.
struct ServiceEnvironment {
    // "NAME=VALUE" entries added to (or replacing) the test's environment.
    std::vector<std::string> env;
    // Listening sockets passed as fds 3, 4, ... with LISTEN_FDS, LISTEN_FDNAMES (names joined
    // with ':') and LISTEN_PID set to the child's own pid, as systemd's socket activation does.
    std::vector<int> listen_fds;
    std::vector<std::string> listen_fd_names;
};

// A started program. Killed (SIGKILL) and reaped when the object goes away, if still running.
class ChildProcess {
  public:
    // Starts argv[0] with stdout and stderr appended to `log_path`, stdin from /dev/null.
    ChildProcess(const std::vector<std::string>& argv, const std::string& log_path);
    // The same, with a service manager's environment and sockets (fork and exec: LISTEN_PID
    // can only be known in the child).
    ChildProcess(const std::vector<std::string>& argv, const std::string& log_path,
                 const ServiceEnvironment& service);
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ~ChildProcess();

    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] const std::string& log_path() const { return log_path_; }

    // True while the process has not exited (reaps it if it has).
    bool running();
    // The raw wait status once exited.
    [[nodiscard]] std::optional<int> wait_status() const { return status_; }

    // Waits at most until `deadline` for the process to exit; true if it did.
    bool wait_exit(Deadline deadline);
    // SIGTERM, wait up to `grace`, then SIGKILL and reap. Returns true if SIGTERM sufficed.
    bool stop(Clock::duration grace);
    // SIGKILL and reap.
    void kill_now();

    // "exited with status 1" / "killed by signal 9" / "running".
    std::string describe() const;

  private:
    pid_t pid_ = -1;
    std::string log_path_;
    std::optional<int> status_;
    int cleanup_handle_ = 0;
};

struct CommandResult {
    bool timed_out = false;
    int exit_status = -1;  // -1 if killed by a signal or timed out
    std::string out;
    std::string err;
};

// Runs a short command to completion, capturing stdout and stderr; killed at `timeout`.
CommandResult run_command(const std::vector<std::string>& argv, Clock::duration timeout);

// The whole content of a (log) file, or a note that it could not be read.
std::string read_text_file(const std::string& path);

}  // namespace imgtest
