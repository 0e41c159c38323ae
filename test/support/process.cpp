// posix_spawn-based child processes with bounded waits.
#include "support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/test_status.hpp"

extern char** environ;

namespace imgtest {

namespace {

constexpr auto kReapPoll = milliseconds(10);

std::vector<char*> to_argv(const std::vector<std::string>& args) {
    std::vector<char*> out;
    for (const auto& a : args) out.push_back(const_cast<char*>(a.c_str()));
    out.push_back(nullptr);
    return out;
}

std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    return "stopped";
}

// Spawns with the given stdio descriptors (-1: /dev/null).
pid_t spawn(const std::vector<std::string>& argv, int out_fd, int err_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (out_fd >= 0) posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    if (err_fd >= 0) posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
    // Children start with the default SIGPIPE disposition, as under a service manager.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    auto args = to_argv(argv);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
    return pid;
}

// The test's environment without what a service manager sets, plus `extra`.
std::vector<std::string> service_environment(const std::vector<std::string>& extra) {
    static constexpr std::string_view kManaged[] = {
        "NOTIFY_SOCKET=", "LISTEN_FDS=",    "LISTEN_FDNAMES=",
        "LISTEN_PID=",    "WATCHDOG_USEC=", "WATCHDOG_PID="};
    std::vector<std::string> out;
    for (char** e = environ; *e; ++e) {
        std::string_view entry(*e);
        bool managed = false;
        for (auto prefix : kManaged) managed = managed || entry.starts_with(prefix);
        if (!managed) out.emplace_back(entry);
    }
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
}

// Writes `value` in decimal into `out` (room for 20 digits); async-signal-safe.
void format_pid(char* out, pid_t value) {
    char digits[24];
    int n = 0;
    do {
        digits[n++] = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value > 0);
    for (int i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
    out[n] = '\0';
}

// fork + exec with fds 3.. and LISTEN_PID set in the child; only async-signal-safe calls after
// fork.
pid_t spawn_service(const std::vector<std::string>& argv, int log_fd,
                    const ServiceEnvironment& service) {
    std::vector<std::string> extra = service.env;
    std::string pid_entry;
    if (!service.listen_fds.empty()) {
        std::string names;
        for (const auto& n : service.listen_fd_names) names += (names.empty() ? "" : ":") + n;
        extra.push_back("LISTEN_FDS=" + std::to_string(service.listen_fds.size()));
        extra.push_back("LISTEN_FDNAMES=" + names);
        pid_entry = "LISTEN_PID=" + std::string(24, '\0');
    }
    auto env_strings = service_environment(extra);
    if (!pid_entry.empty()) env_strings.push_back(pid_entry);
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    char* pid_digits =
        pid_entry.empty() ? nullptr : envp[envp.size() - 2] + std::strlen("LISTEN_PID=");
    auto args = to_argv(argv);
    const std::vector<int> fds = service.listen_fds;

    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
    if (pid > 0) return pid;
    // Child. Move the passed sockets out of the way first, then into place from fd 3 on.
    constexpr int kScratchFd = 200;
    std::vector<int>::size_type i = 0;
    int moved[64];
    for (i = 0; i < fds.size() && i < 64; ++i)
        moved[i] = ::fcntl(fds[i], F_DUPFD_CLOEXEC, kScratchFd);
    for (i = 0; i < fds.size() && i < 64; ++i) ::dup2(moved[i], 3 + static_cast<int>(i));
    int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    if (null_fd > 2) ::close(null_fd);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction defaults {};
    defaults.sa_handler = SIG_DFL;
    ::sigaction(SIGPIPE, &defaults, nullptr);
    if (pid_digits) format_pid(pid_digits, ::getpid());
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& log_path)
    : ChildProcess(argv, log_path, ServiceEnvironment{}) {}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& log_path,
                           const ServiceEnvironment& service)
    : log_path_(log_path) {
    int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0)
        throw std::runtime_error("cannot open log " + log_path + ": " + std::strerror(errno));
    const bool plain = service.env.empty() && service.listen_fds.empty();
    try {
        pid_ = plain ? spawn(argv, log, log) : spawn_service(argv, log, service);
    } catch (...) {
        ::close(log);
        throw;
    }
    ::close(log);
    const pid_t pid = pid_;
    cleanup_handle_ = add_emergency_cleanup([pid] { ::kill(pid, SIGKILL); });
}

ChildProcess::~ChildProcess() {
    if (running()) kill_now();
    remove_emergency_cleanup(cleanup_handle_);
}

bool ChildProcess::running() {
    if (status_) return false;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
        status_ = status;
        return false;
    }
    return true;
}

bool ChildProcess::wait_exit(Deadline deadline) {
    while (running()) {
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(kReapPoll);  // bounded poll
    }
    return true;
}

bool ChildProcess::stop(Clock::duration grace) {
    if (!running()) return true;
    ::kill(pid_, SIGTERM);
    if (wait_exit(deadline_in(grace))) return true;
    kill_now();
    return false;
}

void ChildProcess::kill_now() {
    if (!running()) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    if (::waitpid(pid_, &status, 0) == pid_) status_ = status;
}

std::string ChildProcess::describe() const {
    return status_ ? describe_status(*status_) : std::string("running");
}

CommandResult run_command(const std::vector<std::string>& argv, Clock::duration timeout) {
    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
        ::close(out_pipe[0]);
        ::close(out_pipe[1]);
        throw std::runtime_error("pipe failed");
    }
    pid_t pid = -1;
    try {
        pid = spawn(argv, out_pipe[1], err_pipe[1]);
    } catch (...) {
        for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
        throw;
    }
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    CommandResult result;
    const auto deadline = deadline_in(timeout);
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    std::string* sinks[2] = {&result.out, &result.err};
    int open_count = 2;
    while (open_count > 0 && Clock::now() < deadline) {
        if (::poll(fds, 2, 100) <= 0) continue;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !fds[i].revents) continue;
            char buffer[4096];
            ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
            if (n > 0) {
                sinks[i]->append(buffer, static_cast<std::size_t>(n));
            } else if (n == 0 || errno != EINTR) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_count;
            }
        }
    }
    for (auto& p : fds)
        if (p.fd >= 0) ::close(p.fd);
    int status = 0;
    for (;;) {
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (Clock::now() >= deadline) {
            result.timed_out = true;
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return result;
        }
        std::this_thread::sleep_for(kReapPoll);  // bounded poll: the deadline ends it
    }
    if (WIFEXITED(status)) result.exit_status = WEXITSTATUS(status);
    return result;
}

std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return "(cannot read " + path + ")";
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

}  // namespace imgtest
