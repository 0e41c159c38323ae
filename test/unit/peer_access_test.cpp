// The allow-list of UNIX socket peers (SO_PEERCRED).
#include "util/peer_access.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <set>
#include <string>

using namespace imgx;

TEST_CASE("by default only root and the daemon's own user may connect") {
    const PeerAccess access;
    CHECK(access.allows({1, 0, 0}));
    CHECK(access.allows({1, ::geteuid(), 12345}));
    const uid_t stranger = ::geteuid() == 65534 ? 65533 : 65534;
    CHECK_FALSE(access.allows({1, stranger, 65534}));
}

TEST_CASE("listed users and groups are allowed, others not") {
    const PeerAccess access({1000, 1001}, {27});
    CHECK(access.allows({1, 1000, 1000}));
    CHECK(access.allows({1, 1001, 5}));
    CHECK(access.allows({1, 4242, 27}));  // by primary group
    if (::geteuid() != 4243) CHECK_FALSE(access.allows({1, 4243, 28}));
}

TEST_CASE("the allow-list describes itself sorted, without duplicates") {
    // The daemon's own uid joins the list (nothing to add when running as root or as 1000).
    std::set<uid_t> uids = {0, 1000, 1001, ::geteuid()};
    std::string expected = "uid";
    for (auto uid : uids) expected += (expected == "uid" ? " " : ", ") + std::to_string(uid);
    CHECK(PeerAccess({1001, 0, 1000}, {27, 4, 27}).describe() == expected + "; gid 4, 27");
}

TEST_CASE("the credentials of a socket pair's peer are this process's") {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    const auto peer = peer_credentials(fds[0]);
    ::close(fds[0]);
    ::close(fds[1]);
    REQUIRE(peer);
    CHECK(peer->pid == ::getpid());
    CHECK(peer->uid == ::geteuid());
    CHECK(peer->gid == ::getegid());
}
