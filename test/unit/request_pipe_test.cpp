// A --stream dump's request and the pipe passed after it, read together (over a socketpair):
// one read when both were sent, nothing after the pipe taken, the request alone when its pipe
// is not there yet, and bad input refused.
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "asio_helpers.hpp"
#include "criu/fd_passing.hpp"
#include "wire/frame.hpp"

using namespace imgx;
namespace asio = boost::asio;
using Result = std::optional<criu::RequestWithPipe>;

namespace {

struct Pair {
    asio::io_context io;
    asio::local::stream_protocol::socket ours{io};
    int theirs = -1;  // CRIU's end, written with blocking calls
    int pipe_fds[2] = {-1, -1};

    Pair() {
        int sv[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        ours.assign(asio::local::stream_protocol(), sv[0]);
        theirs = sv[1];
        REQUIRE(::pipe(pipe_fds) == 0);
    }
    ~Pair() {
        for (int fd : {theirs, pipe_fds[0], pipe_fds[1]})
            if (fd >= 0) ::close(fd);
    }
    // A frame as CRIU writes it: the 4-byte length (little-endian) and the body.
    void send_frame(const std::string& body) {
        const auto n = static_cast<std::uint32_t>(body.size());
        std::string frame{static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
                          static_cast<char>((n >> 16) & 0xff), static_cast<char>(n >> 24)};
        frame += body;
        REQUIRE(::write(theirs, frame.data(), frame.size()) == static_cast<ssize_t>(frame.size()));
    }
    void send_pipe() { criu::send_fd_blocking(theirs, pipe_fds[0]); }
    // Reads one request with its pipe (bounded: at most 2 s of event loop).
    imgtest::Outcome<Result> read() {
        auto out = imgtest::start(io, criu::receive_request_and_pipe(ours));
        for (int i = 0; i < 40 && !*out; ++i) imgtest::settle(io);
        return out;
    }
};

std::string error_of(Pair& p) {
    std::string error;
    auto out =
        imgtest::start(p.io,
                       [](asio::local::stream_protocol::socket& s,
                          std::string& e) -> asio::awaitable<std::optional<criu::RequestWithPipe>> {
                           try {
                               co_return co_await criu::receive_request_and_pipe(s);
                           } catch (const wire::ProtocolError& x) {
                               e = x.what();
                           }
                           co_return std::nullopt;
                       }(p.ours, error));
    for (int i = 0; i < 40 && !*out; ++i) imgtest::settle(p.io);
    return error;
}

}  // namespace

TEST_CASE("requests and their pipes sent back to back come out one by one, nothing swallowed") {
    Pair p;
    p.send_frame("pages-1.img");
    p.send_pipe();
    p.send_frame("core-1.img");
    p.send_pipe();
    auto first = p.read();
    REQUIRE(first->has_value());
    REQUIRE(first->value().has_value());
    CHECK(first->value()->body == "pages-1.img");
    CHECK(criu::is_pipe(first->value()->pipe.get()));
    auto second = p.read();
    REQUIRE(second->has_value());
    REQUIRE(second->value().has_value());
    CHECK(second->value()->body == "core-1.img");
    CHECK(criu::is_pipe(second->value()->pipe.get()));
    ::shutdown(p.theirs, SHUT_WR);
    auto end = p.read();
    REQUIRE(end->has_value());
    CHECK_FALSE(end->value().has_value());  // CRIU closed between requests: the end
}

TEST_CASE("a request whose pipe is not there yet comes out at once, without it") {
    // A bad request must be refused before its pipe: the caller reads the pipe itself later.
    Pair p;
    const std::string name(3000, 'n');  // longer than the first read
    p.send_frame(name);
    auto out = p.read();
    REQUIRE(out->has_value());
    REQUIRE(out->value().has_value());
    CHECK(out->value()->body == name);
    CHECK_FALSE(out->value()->pipe);
    p.send_pipe();
    auto pipe = imgtest::start(p.io, criu::receive_fd(p.ours));
    for (int i = 0; i < 40 && !*pipe; ++i) imgtest::settle(p.io);
    REQUIRE(pipe->has_value());
    CHECK(criu::is_pipe(pipe->value().get()));
}

TEST_CASE("a request followed by data where its pipe belongs is refused") {
    Pair p;
    p.send_frame("a.img");
    REQUIRE(::write(p.theirs,
                    "\x05\x00\x00\x00"
                    "b.img",
                    9) == 9);
    CHECK(error_of(p) == "expected a pipe, received data without a descriptor");
}

TEST_CASE("a pipe passed inside a request's length is refused") {
    Pair p;
    REQUIRE(::write(p.theirs, "\x05\x00", 2) == 2);
    p.send_pipe();
    CHECK(error_of(p) == "a descriptor arrived inside a request frame");
}

TEST_CASE("EOF inside a request and an oversized length are refused") {
    SECTION("EOF inside the body") {
        Pair p;
        REQUIRE(::write(p.theirs,
                        "\x05\x00\x00\x00"
                        "a.i",
                        7) == 7);
        ::shutdown(p.theirs, SHUT_WR);
        CHECK(error_of(p) == "connection closed inside a frame");
    }
    SECTION("EOF inside the length") {
        Pair p;
        REQUIRE(::write(p.theirs, "\x05\x00", 2) == 2);
        ::shutdown(p.theirs, SHUT_WR);
        CHECK(error_of(p) == "connection closed inside a frame");
    }
    SECTION("a length above the limit") {
        Pair p;
        const std::string huge_length("\xff\xff\xff\x7f", 4);
        REQUIRE(::write(p.theirs, huge_length.data(), 4) == 4);
        CHECK_FALSE(error_of(p).empty());
    }
}
