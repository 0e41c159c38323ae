// Catch2's main for every test executable: ignores SIGPIPE, raises the fd limit, tracks failures.
#define CATCH_CONFIG_RUNNER
#include <sys/resource.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <csignal>

#include "support/test_status.hpp"

namespace {

// Records failed assertions so the daemon harness knows to print the daemons' logs.
struct FailureListener : Catch::TestEventListenerBase {
    using TestEventListenerBase::TestEventListenerBase;
    void testCaseStarting(const Catch::TestCaseInfo& info) override {
        TestEventListenerBase::testCaseStarting(info);
        imgtest::note_test_case_started();
    }
    bool assertionEnded(const Catch::AssertionStats& stats) override {
        if (!stats.assertionResult.isOk()) imgtest::note_assertion_failed();
        return TestEventListenerBase::assertionEnded(stats);
    }
};

}  // namespace

CATCH_REGISTER_LISTENER(FailureListener)

int main(int argc, char* argv[]) {
    // A daemon closing a pipe or socket early must show up as EPIPE, not kill the test.
    std::signal(SIGPIPE, SIG_IGN);
    // Many concurrent pipes: raise the soft descriptor limit (children inherit it).
    rlimit limit{};
    constexpr rlim_t kWantedFds = 65536;
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < kWantedFds) {
        limit.rlim_cur = std::min(limit.rlim_max, kWantedFds);
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
    return Catch::Session().run(argc, argv);
}
