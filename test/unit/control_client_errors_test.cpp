// img-ctl's words for a control socket it cannot connect to (socket-free: the tests run as root,
// which no file mode stops, so the permission case is checked on the message alone).
#include <catch2/catch.hpp>
#include <cerrno>

#include "control/control_client.hpp"

using imgx::control::connect_error_text;

namespace {
const std::string kPath = "/run/img-proxyd/control.sock";
}

TEST_CASE("a control socket img-ctl may not open is named as a permission problem") {
    for (int error : {EACCES, EPERM}) {
        const auto text = connect_error_text(kPath, error);
        CHECK(text.rfind("permission denied on " + kPath + " (run as root", 0) == 0);
        CHECK(text.find("no daemon") == std::string::npos);
    }
}

TEST_CASE("a socket file nobody listens on is called stale, a missing one absent") {
    const auto stale = connect_error_text(kPath, ECONNREFUSED);
    CHECK(stale.rfind(kPath + " exists but no daemon listens on it", 0) == 0);
    CHECK(stale.find("stale") != std::string::npos);
    CHECK(connect_error_text(kPath, ENOENT) ==
          "no daemon running here: " + kPath + " does not exist");
}

TEST_CASE("any other connect error is given with the path and the system's words") {
    CHECK(connect_error_text(kPath, ENOTSOCK) ==
          "cannot reach the daemon at " + kPath + ": Socket operation on non-socket");
}
