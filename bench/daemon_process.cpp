// Starting and stopping daemon child processes.
#include "daemon_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace imgx::bench {

DaemonProcess::DaemonProcess(std::string name, const std::string& path,
                             const std::vector<std::string>& args)
    : name_(std::move(name)) {
    if (::access(path.c_str(), X_OK) != 0)
        throw std::runtime_error(name_ + ": cannot execute " + path + ": " + std::strerror(errno));
    // Everything the child needs is prepared before fork: only async-signal-safe calls follow.
    std::vector<std::string> words;
    words.push_back(path);
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error(name_ + ": fork: " + std::strerror(errno));
    if (pid_ == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) ::_exit(127);
        const int null = ::open("/dev/null", O_RDONLY);
        if (null >= 0) ::dup2(null, STDIN_FILENO);
        // A daemon must not inherit img-bench's ignored SIGPIPE or blocked signals.
        ::signal(SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
}

DaemonProcess::~DaemonProcess() { stop(); }

void DaemonProcess::reap(int options) {
    if (exited_ || pid_ <= 0) return;
    int status = 0;
    pid_t r;
    do {
        r = ::waitpid(pid_, &status, options);
    } while (r < 0 && errno == EINTR);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
        exited_ = true;
        status_ = status;
    }
}

bool DaemonProcess::running() {
    reap(WNOHANG);
    return !exited_;
}

std::string DaemonProcess::describe_end() {
    if (running()) return "running";
    if (WIFEXITED(status_)) return "exited with status " + std::to_string(WEXITSTATUS(status_));
    if (WIFSIGNALED(status_)) return "killed by signal " + std::to_string(WTERMSIG(status_));
    return "ended";
}

void DaemonProcess::stop(int grace_ms) {
    if (!running()) return;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
    while (running() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    kill();
}

void DaemonProcess::kill() {
    if (!running()) return;
    ::kill(pid_, SIGKILL);
    reap(0);
}

}  // namespace imgx::bench
