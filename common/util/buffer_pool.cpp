// Fixed buffer pool.
#include "util/buffer_pool.hpp"

#include <cstring>
#include <utility>

namespace imgx {

PooledBuffer::PooledBuffer(PooledBuffer&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), data_(std::exchange(other.data_, nullptr)) {}

PooledBuffer& PooledBuffer::operator=(PooledBuffer&& other) noexcept {
    if (this != &other) {
        if (data_) pool_->give_back(data_);
        pool_ = std::exchange(other.pool_, nullptr);
        data_ = std::exchange(other.data_, nullptr);
    }
    return *this;
}

PooledBuffer::~PooledBuffer() {
    if (data_) pool_->give_back(data_);
}

std::size_t PooledBuffer::capacity() const noexcept { return pool_ ? pool_->buffer_bytes() : 0; }

BufferPool::BufferPool(const boost::asio::any_io_executor& ex, std::size_t buffer_bytes,
                       std::size_t count)
    : BufferPool(buffer_bytes, count, {}) {
    returned_ = std::make_unique<AsyncEvent>(ex);
    // Touch every page now: freshly faulted memory is slow on these VMs, reused memory is not.
    prefault();
}

BufferPool::BufferPool(std::size_t buffer_bytes, std::size_t count, BufferReturned returned)
    : buffer_bytes_(buffer_bytes),
      count_(count),
      storage_(new char[buffer_bytes * count]),  // large: mmap'ed, pages faulted at first write
      filled_(count, 0),
      on_return_(std::move(returned)) {
    free_.reserve(count);
    for (std::size_t i = count; i-- > 0;) free_.push_back(storage_.get() + i * buffer_bytes);
}

boost::asio::awaitable<PooledBuffer> BufferPool::acquire() {
    while (free_.empty()) co_await returned_->wait();
    char* data = free_.back();
    free_.pop_back();
    co_return PooledBuffer(this, data);
}

void BufferPool::prefault() noexcept { std::memset(storage_.get(), 0, buffer_bytes_ * count_); }

PooledBuffer BufferPool::try_acquire() {
    const std::lock_guard lock(mutex_);
    if (free_.empty()) return {};
    char* data = free_.back();
    free_.pop_back();
    return PooledBuffer(this, data);
}

void BufferPool::set_filled(const PooledBuffer& buffer, std::size_t size) noexcept {
    std::size_t& filled = filled_[index_of(buffer.data())];
    filled_bytes_.fetch_add(size - filled, std::memory_order_relaxed);  // wraps back when smaller
    filled = size;
}

std::size_t BufferPool::free_count() const noexcept {
    const std::lock_guard lock(mutex_);
    return free_.size();
}

void BufferPool::give_back(char* data) {
    std::size_t& filled = filled_[index_of(data)];
    filled_bytes_.fetch_sub(filled, std::memory_order_relaxed);
    filled = 0;
    {
        const std::lock_guard lock(mutex_);
        free_.push_back(data);
    }
    if (returned_) returned_->notify();
    if (on_return_) on_return_();
}

}  // namespace imgx
