// One daemon started as a child process: its pid, whether it still runs, and stopping it.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace imgx::bench {

class DaemonProcess {
  public:
    // Starts `path` with `args` (stdin from /dev/null, stdout and stderr shared with us). The child
    // gets SIGTERM if img-bench dies. Throws std::runtime_error if it cannot be started.
    DaemonProcess(std::string name, const std::string& path, const std::vector<std::string>& args);
    DaemonProcess(const DaemonProcess&) = delete;
    DaemonProcess& operator=(const DaemonProcess&) = delete;
    // Stops the daemon if it still runs.
    ~DaemonProcess();

    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    [[nodiscard]] const std::string& name() const noexcept { return name_; }

    // True while the child has not exited (reaps it once it has).
    bool running();
    // "exited with status 1", "killed by signal 11", or "running".
    [[nodiscard]] std::string describe_end();

    // SIGTERM, up to `grace_ms` for it to exit, then SIGKILL. Idempotent.
    void stop(int grace_ms = 5000);
    // SIGKILL at once: whatever waits on the daemon's sockets gets EOF.
    void kill();

  private:
    void reap(int options);

    std::string name_;
    pid_t pid_ = -1;
    bool exited_ = false;
    int status_ = 0;
};

}  // namespace imgx::bench
