// A fixed set of equally sized, pre-faulted buffers handed out one at a time.
//
// The pool is the proxy's memory budget for data in flight: when every buffer is taken,
// acquire() suspends, so readers stop draining CRIU's pipes instead of buffering without bound.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <memory>
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

class BufferPool {
  public:
    BufferPool(const boost::asio::any_io_executor& ex, std::size_t buffer_bytes, std::size_t count);
    BufferPool(const BufferPool&) = delete;
    BufferPool& operator=(const BufferPool&) = delete;

    // Waits until a buffer is free.
    boost::asio::awaitable<PooledBuffer> acquire();

    [[nodiscard]] std::size_t buffer_bytes() const noexcept { return buffer_bytes_; }
    [[nodiscard]] std::size_t free_count() const noexcept { return free_.size(); }
    [[nodiscard]] std::size_t total_count() const noexcept { return count_; }

  private:
    friend class PooledBuffer;
    void give_back(char* data);

    std::size_t buffer_bytes_;
    std::size_t count_;
    std::unique_ptr<char[]> storage_;
    std::vector<char*> free_;
    AsyncEvent returned_;
};

}  // namespace imgx
