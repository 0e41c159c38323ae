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
    : buffer_bytes_(buffer_bytes),
      count_(count),
      storage_(new char[buffer_bytes * count]),
      returned_(ex) {
    // Touch every page now: freshly faulted memory is slow on these VMs, reused memory is not.
    std::memset(storage_.get(), 0, buffer_bytes * count);
    free_.reserve(count);
    for (std::size_t i = count; i-- > 0;) free_.push_back(storage_.get() + i * buffer_bytes);
}

boost::asio::awaitable<PooledBuffer> BufferPool::acquire() {
    while (free_.empty()) co_await returned_.wait();
    char* data = free_.back();
    free_.pop_back();
    co_return PooledBuffer(this, data);
}

void BufferPool::give_back(char* data) {
    free_.push_back(data);
    returned_.notify();
}

}  // namespace imgx
