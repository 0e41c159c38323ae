// HOST:PORT parsing for --listen and --cache.
#include "util/address.hpp"

#include <catch2/catch.hpp>
#include <stdexcept>

using namespace imgx;

TEST_CASE("HOST:PORT splits at the last colon") {
    auto hp = parse_host_port("127.0.0.1:7411");
    CHECK(hp.host == "127.0.0.1");
    CHECK(hp.port == 7411);
    CHECK(hp.to_string() == "127.0.0.1:7411");
    auto named = parse_host_port("cache.example:1");
    CHECK(named.host == "cache.example");
    CHECK(named.port == 1);
}

TEST_CASE("IPv6 addresses are written in brackets and printed the same way") {
    auto hp = parse_host_port("[::1]:7411");
    CHECK(hp.host == "::1");
    CHECK(hp.port == 7411);
    CHECK(hp.to_string() == "[::1]:7411");
    CHECK(parse_host_port("[fe80::1%eth0]:65535").host == "fe80::1%eth0");
}

TEST_CASE("the highest port is 65535") {
    CHECK(parse_host_port("h:65535").port == 65535);
    CHECK_THROWS_AS(parse_host_port("h:65536"), std::invalid_argument);
    CHECK_THROWS_AS(parse_host_port("h:4294967297"), std::invalid_argument);
}

TEST_CASE("port 0 is accepted only where an ephemeral port makes sense") {
    CHECK_THROWS_AS(parse_host_port("127.0.0.1:0"), std::invalid_argument);
    CHECK(parse_host_port("127.0.0.1:0", true).port == 0);
}

TEST_CASE("malformed addresses are refused with a one-line message naming the input") {
    for (const char* bad :
         {"", "127.0.0.1", "127.0.0.1:", ":7411", "h:port", "h:-1", "h:+80", "h:80x", "h: 80",
          "::1:7411", "[::1]7411", "[::1", "[]:7411", "[::1]:"}) {
        CAPTURE(bad);
        try {
            parse_host_port(bad);
            FAIL("accepted");
        } catch (const std::invalid_argument& e) {
            CHECK(std::string(e.what()).find('\n') == std::string::npos);
            CHECK_THAT(e.what(), Catch::Contains(bad));
        }
    }
}
