// Raises and checks the open-file limit at start-up.
#include "service/fd_limit.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace imgx {

namespace {

// Descriptors one migration holds at most at a time, roughly: its CRIU socket, the pipes CRIU
// keeps open at once (up to 8 seen), the descriptors we dup for them, and a margin.
constexpr std::uint64_t kFdsPerMigration = 24;

}  // namespace

FdLimit raise_fd_limit() {
    FdLimit result;
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        result.problem = std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno);
        return result;
    }
    result.before = result.now = limit.rlim_cur;
    result.hard = limit.rlim_max;
    if (limit.rlim_cur >= limit.rlim_max) return result;
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) {
        result.problem = std::string("setrlimit(RLIMIT_NOFILE): ") + std::strerror(errno);
        return result;
    }
    result.now = raised.rlim_cur;
    return result;
}

void report_fd_limit(const char* daemon, const FdLimit& limit, std::uint64_t wanted) {
    if (!limit.problem.empty())
        spdlog::warn("{}: cannot raise the open-file limit ({}); it stays at {}", daemon,
                     limit.problem, limit.now);
    if (limit.now >= wanted) {
        spdlog::debug("{}: open-file limit {} (was {}, hard limit {})", daemon, limit.now,
                      limit.before, limit.hard);
        return;
    }
    spdlog::warn(
        "{}: the open-file limit is {} (hard limit {}), enough for about {} concurrent migrations; "
        "raise it (LimitNOFILE= in the unit, ulimit -n) to at least {}",
        daemon, limit.now, limit.hard, limit.now / kFdsPerMigration, wanted);
}

}  // namespace imgx
