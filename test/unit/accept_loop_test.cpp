// The shared accept loop: out of file descriptors, a listener pauses between attempts and logs
// once, then accepts again when descriptors are free; closing the listener ends the loop.
#include "util/accept_loop.hpp"

#include <fcntl.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>
#include <memory>
#include <vector>

#include "asio_helpers.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// The real acceptor, with a count of the accepts asked of it.
struct CountingAcceptor {
    template <class Token>
    auto async_accept(Token&& token) {
        ++attempts;
        return inner.async_accept(std::forward<Token>(token));
    }
    [[nodiscard]] bool is_open() const { return inner.is_open(); }
    auto get_executor() { return inner.get_executor(); }

    tcp::acceptor& inner;
    int attempts = 0;
};

// Log lines at warn and info go to a ring buffer while it lives.
struct CapturedLog {
    CapturedLog()
        : sink(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64)),
          old(spdlog::default_logger()) {
        spdlog::set_default_logger(std::make_shared<spdlog::logger>("accept-test", sink));
    }
    ~CapturedLog() { spdlog::set_default_logger(old); }
    [[nodiscard]] int count(const std::string& part) const {
        int n = 0;
        for (const auto& line : sink->last_formatted())
            if (line.find(part) != std::string::npos) ++n;
        return n;
    }
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink;
    std::shared_ptr<spdlog::logger> old;
};

// Uses up every free file descriptor below a lowered soft limit; gives them back on release().
struct FdExhaustion {
    FdExhaustion() {
        REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
        rlimit low = saved;
        low.rlim_cur = 256;
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
        for (int i = 0; i < 256; ++i) {  // bounded: the limit is 256
            const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (fd < 0) break;
            held.push_back(fd);
        }
        REQUIRE(::open("/dev/null", O_RDONLY | O_CLOEXEC) < 0);
    }
    void release() {
        for (int fd : held) ::close(fd);
        held.clear();
        ::setrlimit(RLIMIT_NOFILE, &saved);
    }
    ~FdExhaustion() { release(); }
    rlimit saved{};
    std::vector<int> held;
};

}  // namespace

TEST_CASE("out of file descriptors, the accept loop pauses between attempts and logs once") {
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    tcp::socket client(io);
    client.connect(acceptor.local_endpoint());  // waits in the backlog

    CapturedLog log;
    CountingAcceptor counting{acceptor};
    int accepted = 0;
    // Parameters, not captures: the lambda object is gone once the coroutine suspends.
    auto loop = [](CountingAcceptor& acceptor, int& count) -> asio::awaitable<bool> {
        co_await imgx::accept_loop(acceptor, "the test listener",
                                   [&count](tcp::socket) { ++count; });
        co_return true;
    };
    auto ended = imgtest::start(io, loop(counting, accepted));
    {
        FdExhaustion exhausted;
        imgtest::settle(io, std::chrono::milliseconds(350));
        CHECK(accepted == 0);
        // A pause of 100 ms between attempts: about 4 in 350 ms (a spinning loop makes thousands).
        CHECK(counting.attempts >= 2);
        CHECK(counting.attempts <= 10);
        CHECK(log.count("accepting a connection on the test listener failed") == 1);
    }
    // Bounded poll: the next attempt comes within 100 ms; give it up to 2 s on a loaded machine.
    for (int i = 0; i < 40 && accepted == 0; ++i) imgtest::settle(io);
    CHECK(accepted == 1);
    CHECK(log.count("works again after") == 1);

    acceptor.close();
    imgtest::settle(io);
    CHECK(ended->value_or(false));
}
