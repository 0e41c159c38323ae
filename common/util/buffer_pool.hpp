// A fixed set of equally sized, pre-faulted buffers handed out one at a time.
//
// The pool is the proxy's memory budget for data in flight: when every buffer is taken,
// acquire() suspends, so readers stop draining CRIU's pipes instead of buffering without bound.
// A shared pool (the capture buffer) is taken from on another thread with try_acquire() and its
// buffers may come back on any thread; its owner faults its pages in (prefault()) when it suits.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "util/async_event.hpp"

namespace imgx {

class BufferPool;

// One buffer on loan from a pool; goes back when destroyed.
class PooledBuffer {
  public:
    PooledBuffer() = default;
    PooledBuffer(PooledBuffer&& other) noexcept;
    PooledBuffer& operator=(PooledBuffer&& other) noexcept;
    PooledBuffer(const PooledBuffer&) = delete;
    PooledBuffer& operator=(const PooledBuffer&) = delete;
    ~PooledBuffer();

    [[nodiscard]] char* data() const noexcept { return data_; }
    [[nodiscard]] std::size_t capacity() const noexcept;
    explicit operator bool() const noexcept { return data_ != nullptr; }

  private:
    friend class BufferPool;
    PooledBuffer(BufferPool* pool, char* data) : pool_(pool), data_(data) {}
    BufferPool* pool_ = nullptr;
    char* data_ = nullptr;
};

// For a shared pool: called (on the returning thread) after a buffer came back.
using BufferReturned = std::function<void()>;

class BufferPool {
  public:
    // A pool of the event loop of `ex`, every page touched now.
    BufferPool(const boost::asio::any_io_executor& ex, std::size_t buffer_bytes, std::size_t count);
    // A shared pool: no coroutine waits on it (try_acquire() only), buffers may be taken and given
    // back on any thread, pages are touched by prefault() or at first use (then kept); recently
    // returned buffers are handed out first, so they are the ones already in the CPU's caches.
    BufferPool(std::size_t buffer_bytes, std::size_t count, BufferReturned returned);
    BufferPool(const BufferPool&) = delete;
    BufferPool& operator=(const BufferPool&) = delete;

    // Waits until a buffer is free (not for a shared pool).
    boost::asio::awaitable<PooledBuffer> acquire();
    // A free buffer, or an empty one when none is.
    PooledBuffer try_acquire();
    // Touches every page of a shared pool now. Call before the first try_acquire(), on the
    // thread that takes the buffers.
    void prefault() noexcept;

    // Accounting for status: `buffer` (of this pool) holds `size` bytes of data until it returns.
    void set_filled(const PooledBuffer& buffer, std::size_t size) noexcept;
    // Bytes of data in buffers not yet returned (set_filled).
    [[nodiscard]] std::uint64_t filled_bytes() const noexcept {
        return filled_bytes_.load(std::memory_order_relaxed);
    }

    [[nodiscard]] std::size_t buffer_bytes() const noexcept { return buffer_bytes_; }
    [[nodiscard]] std::size_t free_count() const noexcept;
    [[nodiscard]] std::size_t total_count() const noexcept { return count_; }

  private:
    friend class PooledBuffer;
    void give_back(char* data);
    [[nodiscard]] std::size_t index_of(const char* data) const noexcept {
        return static_cast<std::size_t>(data - storage_.get()) / buffer_bytes_;
    }

    std::size_t buffer_bytes_;
    std::size_t count_;
    std::unique_ptr<char[]> storage_;
    mutable std::mutex mutex_;  // guards free_ (taken only by a shared pool)
    std::vector<char*> free_;
    std::vector<std::size_t> filled_;  // per buffer, set_filled's size
    std::atomic<std::uint64_t> filled_bytes_{0};
    std::unique_ptr<AsyncEvent> returned_;  // an event loop's pool: acquire() waits on it
    BufferReturned on_return_;              // a shared pool: told of every return
};

}  // namespace imgx
