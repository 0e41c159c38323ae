// Threads beside the event loop for CPU work (compression, checksums): a coroutine hands a job
// over and resumes on its own executor with the result, so the loop never runs the job itself.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace imgx {

class WorkerPool {
  public:
    // `threads` 0: one per CPU the process may use, at most 8 (default_threads()).
    explicit WorkerPool(std::size_t threads = 0);
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;
    // Stops the threads; jobs not started yet are dropped (their awaiting coroutines never
    // resume, so destroy the pool only after the event loop stopped).
    ~WorkerPool();

    // Runs `job()` on a worker thread and returns its result (or rethrows its exception) on the
    // awaiting coroutine's executor. The job must not touch the event loop's objects.
    // Pass a named job (`auto job = [...] {...}; co_await pool.run(std::move(job));`): gcc 12
    // destroys a lambda written inside the co_await expression twice (AddressSanitizer showed
    // it in the unit test worker_pool).
    template <typename Job>
    boost::asio::awaitable<std::invoke_result_t<Job&>> run(Job job);

    // Jobs handed over and not finished: queued or running. Callers bound their queue with it
    // (a job that would only wait can be done another way or not at all).
    [[nodiscard]] std::size_t pending() const noexcept {
        return pending_.load(std::memory_order_relaxed);
    }
    [[nodiscard]] std::size_t threads() const noexcept { return threads_; }

    // The CPUs in this process's affinity mask, capped at 8 (at least 1).
    static std::size_t default_threads();

  private:
    std::size_t threads_;
    std::atomic<std::size_t> pending_{0};
    boost::asio::thread_pool pool_;
};

template <typename Job>
boost::asio::awaitable<std::invoke_result_t<Job&>> WorkerPool::run(Job job) {
    using Result = std::invoke_result_t<Job&>;
    pending_.fetch_add(1, std::memory_order_relaxed);
    struct Finished {
        std::atomic<std::size_t>& pending;
        ~Finished() { pending.fetch_sub(1, std::memory_order_relaxed); }
    };
    auto on_worker = [this, job = std::move(job)]() mutable -> boost::asio::awaitable<Result> {
        const Finished finished{pending_};
        co_return job();
    };
    co_return co_await boost::asio::co_spawn(pool_.get_executor(), std::move(on_worker),
                                             boost::asio::use_awaitable);
}

}  // namespace imgx
