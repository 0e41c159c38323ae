// The start-up raise of the open-file limit.
#include "service/fd_limit.hpp"

#include <sys/resource.h>

#include <catch2/catch.hpp>

using namespace imgx;

namespace {

// Puts the process's RLIMIT_NOFILE back as it was when the test ends.
struct SavedLimit {
    rlimit saved{};
    SavedLimit() { REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0); }
    ~SavedLimit() { ::setrlimit(RLIMIT_NOFILE, &saved); }
};

}  // namespace

TEST_CASE("the soft open-file limit is raised to the hard limit") {
    SavedLimit saved;
    if (saved.saved.rlim_max < 64) {
        WARN("hard open-file limit " << saved.saved.rlim_max << " is too small to lower and raise");
        return;
    }
    rlimit lowered = saved.saved;
    lowered.rlim_cur = 32;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);

    const FdLimit limit = raise_fd_limit();
    CHECK(limit.problem.empty());
    CHECK(limit.before == 32);
    CHECK(limit.hard == saved.saved.rlim_max);
    CHECK(limit.now == saved.saved.rlim_max);
    rlimit after{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &after) == 0);
    CHECK(after.rlim_cur == saved.saved.rlim_max);
}

TEST_CASE("a soft limit already at the hard limit is left alone") {
    SavedLimit saved;
    rlimit at_hard = saved.saved;
    at_hard.rlim_cur = at_hard.rlim_max;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &at_hard) == 0);
    const FdLimit limit = raise_fd_limit();
    CHECK(limit.problem.empty());
    CHECK(limit.before == at_hard.rlim_max);
    CHECK(limit.now == at_hard.rlim_max);
}
