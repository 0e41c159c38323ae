// The worker pool: jobs run off the event loop's thread, results and exceptions come back to the
// awaiting coroutine on its own thread, and pending() counts what was handed over.
#include "util/worker_pool.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>

namespace asio = boost::asio;

namespace {

// Runs the io_context until `done` or a bounded time passed.
void run_until(asio::io_context& io, const bool& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done && std::chrono::steady_clock::now() < deadline) {
        io.restart();
        io.run_for(std::chrono::milliseconds(10));
    }
}

}  // namespace

TEST_CASE("a job runs on a worker thread and its result comes back on the loop's thread") {
    asio::io_context io;
    imgx::WorkerPool pool(2);
    const auto loop_thread = std::this_thread::get_id();
    std::thread::id job_thread, resumed_on;
    int result = 0;
    bool done = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto job = [&] {
                job_thread = std::this_thread::get_id();
                return 42;
            };
            result = co_await pool.run(std::move(job));
            resumed_on = std::this_thread::get_id();
            done = true;
        },
        asio::detached);
    run_until(io, done);
    REQUIRE(done);
    CHECK(result == 42);
    CHECK(job_thread != loop_thread);
    CHECK(resumed_on == loop_thread);
    CHECK(pool.pending() == 0);
}

TEST_CASE("a job's exception is rethrown in the awaiting coroutine") {
    asio::io_context io;
    imgx::WorkerPool pool(1);
    std::string caught;
    bool done = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            try {
                auto job = []() -> int { throw std::runtime_error("bad chunk"); };
                co_await pool.run(std::move(job));
            } catch (const std::runtime_error& e) {
                caught = e.what();
            }
            done = true;
        },
        asio::detached);
    run_until(io, done);
    REQUIRE(done);
    CHECK(caught == "bad chunk");
}

TEST_CASE("pending() counts jobs queued or running until they finish") {
    asio::io_context io;
    imgx::WorkerPool pool(1);
    std::promise<void> release;
    auto released = release.get_future().share();
    int finished = 0;
    for (int i = 0; i < 3; ++i) {
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                // A named job: gcc 12 destroys a temporary inside a co_await expression twice.
                auto job = [released] { released.wait(); };
                co_await pool.run(std::move(job));
                ++finished;
            },
            asio::detached);
    }
    io.restart();
    io.run_for(std::chrono::milliseconds(50));
    CHECK(pool.pending() == 3);  // one running (blocked), two queued behind it
    CHECK(finished == 0);
    release.set_value();
    bool all = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (finished < 3 && std::chrono::steady_clock::now() < deadline) {  // bounded poll
        io.restart();
        io.run_for(std::chrono::milliseconds(10));
    }
    all = finished == 3;
    CHECK(all);
    CHECK(pool.pending() == 0);
}

TEST_CASE("the default size follows the CPUs the process may use, capped") {
    const std::size_t n = imgx::WorkerPool::default_threads();
    CHECK(n >= 1);
    CHECK(n <= 8);
    CHECK(imgx::WorkerPool(0).threads() == n);
}
