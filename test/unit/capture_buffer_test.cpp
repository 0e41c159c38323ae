// The capture buffer and its thread: block accounting across threads, reuse of faulted blocks,
// and a pipe's bytes delivered to the event loop in order, then its end.
#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "proxyd/capture_thread.hpp"
#include "util/buffer_pool.hpp"

namespace asio = boost::asio;
using imgx::BufferPool;
using imgx::PooledBuffer;
using imgx::UniqueFd;
using imgx::proxyd::CaptureEnd;
using imgx::proxyd::CaptureSink;
using imgx::proxyd::CaptureThread;

namespace {

// Runs the io_context until `done()` or a bounded time passed.
template <typename Done>
void run_until(asio::io_context& io, Done done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        io.restart();
        io.run_for(std::chrono::milliseconds(10));
    }
}

// Records what the capture thread delivered, and on which thread.
struct RecordingSink : CaptureSink {
    std::string bytes;
    std::size_t pieces = 0;
    std::optional<CaptureEnd> end;
    std::thread::id thread;
    void on_data(PooledBuffer buffer, std::size_t size) override {
        bytes.append(buffer.data(), size);
        ++pieces;
        thread = std::this_thread::get_id();
    }
    void on_end(CaptureEnd e) override { end = e; }
};

std::pair<UniqueFd, UniqueFd> make_pipe() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

}  // namespace

TEST_CASE("a shared pool counts the bytes held until each block comes back, on any thread") {
    int returns = 0;
    BufferPool pool(4096, 2, [&] { ++returns; });
    PooledBuffer a = pool.try_acquire();
    PooledBuffer b = pool.try_acquire();
    REQUIRE(a);
    REQUIRE(b);
    CHECK_FALSE(pool.try_acquire());  // full: the caller holds CRIU back
    pool.set_filled(a, 100);
    pool.set_filled(b, 4096);
    CHECK(pool.filled_bytes() == 4196);
    pool.set_filled(a, 50);  // refilled smaller: the difference goes
    CHECK(pool.filled_bytes() == 4146);
    std::thread([moved = std::move(b)]() mutable { moved = {}; }).join();
    CHECK(pool.filled_bytes() == 50);
    CHECK(returns == 1);
    CHECK(pool.free_count() == 1);
    a = {};
    CHECK(pool.filled_bytes() == 0);
    CHECK(pool.free_count() == 2);
}

TEST_CASE("a shared pool hands out the block returned last, whose pages are faulted in") {
    BufferPool pool(4096, 8, {});
    PooledBuffer first = pool.try_acquire();
    char* const used = first.data();
    first = {};
    for (int i = 0; i < 3; ++i) {
        PooledBuffer again = pool.try_acquire();
        CHECK(again.data() == used);
    }
}

TEST_CASE("the capture thread delivers a pipe's bytes in order on the loop's thread, then EOF") {
    asio::io_context io;
    CaptureThread capture(io.get_executor(), 4096, 4);
    auto [read_end, write_end] = make_pipe();
    auto sink = std::make_shared<RecordingSink>();
    capture.add(std::move(read_end), sink);
    std::string expected;
    for (int i = 0; i < 3000; ++i) expected += std::to_string(i) + ",";  // more than 4 blocks
    std::size_t written = 0;
    run_until(io, [&] {
        if (written < expected.size()) {
            const auto n =
                ::write(write_end.get(), expected.data() + written, expected.size() - written);
            if (n > 0) written += static_cast<std::size_t>(n);
            if (written == expected.size()) write_end.reset();
        }
        return sink->end.has_value();
    });
    CHECK(sink->end == CaptureEnd::eof);
    CHECK(sink->bytes == expected);
    CHECK(sink->pieces >= expected.size() / 4096);
    CHECK(sink->thread == std::this_thread::get_id());
    CHECK(capture.buffer().free_count() == 4);  // every block came back after its delivery
    CHECK(capture.buffer().filled_bytes() == 0);
}

TEST_CASE("a full capture buffer stops reading until a block comes back") {
    asio::io_context io;
    CaptureThread capture(io.get_executor(), 4096, 2);
    auto [read_end, write_end] = make_pipe();
    struct HoldingSink : RecordingSink {
        std::vector<PooledBuffer> held;
        void on_data(PooledBuffer buffer, std::size_t size) override {
            bytes.append(buffer.data(), size);
            held.push_back(std::move(buffer));  // like the link's unacknowledged frames
        }
    };
    auto sink = std::make_shared<HoldingSink>();
    capture.add(std::move(read_end), sink);
    const std::string data(5 * 4096, 'x');
    REQUIRE(::write(write_end.get(), data.data(), data.size()) ==
            static_cast<ssize_t>(data.size()));
    run_until(io, [&] { return sink->held.size() == 2; });
    REQUIRE(sink->held.size() == 2);
    CHECK(capture.buffer().filled_bytes() == 2 * 4096);
    // bounded poll: nothing more may arrive while both blocks are held
    run_until(io, [start = std::chrono::steady_clock::now()] {
        return std::chrono::steady_clock::now() - start > std::chrono::milliseconds(100);
    });
    CHECK(sink->bytes.size() == 2 * 4096);
    sink->held.clear();  // acknowledged: the blocks return and the reading goes on
    write_end.reset();
    run_until(io, [&] {
        sink->held.clear();
        return sink->end.has_value();
    });
    CHECK(sink->bytes == data);
    CHECK(sink->end == CaptureEnd::eof);
}

TEST_CASE("closing a pipe drops its unsent bytes at once and ends it as closed") {
    std::signal(SIGPIPE, SIG_IGN);  // as the daemons do
    asio::io_context io;
    CaptureThread capture(io.get_executor(), 4096, 4);
    auto [read_end, write_end] = make_pipe();
    auto sink = std::make_shared<RecordingSink>();
    const auto id = capture.add(std::move(read_end), sink);
    REQUIRE(::write(write_end.get(), "abc", 3) == 3);
    capture.close(id);
    run_until(io, [&] { return sink->end.has_value(); });
    CHECK(sink->end == CaptureEnd::closed);
    CHECK(capture.buffer().filled_bytes() == 0);
    run_until(io, [&] { return capture.buffer().free_count() == 4; });
    CHECK(capture.buffer().free_count() == 4);
    // CRIU's next write fails: the read end is gone.
    CHECK(::write(write_end.get(), "d", 1) == -1);
}
