// The block pool: blocks taken, given back and kept for reuse, and faulted in ahead of need.
#include "store/block_pool.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <new>
#include <stdexcept>
#include <utility>

#include "util/unique_fd.hpp"

namespace imgx::store {

namespace {

std::size_t page_size() {
    const long bytes = ::sysconf(_SC_PAGESIZE);
    return bytes > 0 ? static_cast<std::size_t>(bytes) : 4096;
}

std::size_t round_up(std::size_t bytes, std::size_t unit) {
    return (bytes + unit - 1) / unit * unit;
}

}  // namespace

SegmentMemory SegmentMemory::allocate(std::size_t size) {
    SegmentMemory memory;
    memory.data_ = new char[size];
    memory.held_ = size;
    return memory;
}

SegmentMemory::SegmentMemory(SegmentMemory&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      held_(std::exchange(other.held_, 0)),
      pool_(std::move(other.pool_)) {}

SegmentMemory& SegmentMemory::operator=(SegmentMemory&& other) noexcept {
    if (this != &other) {
        release();
        data_ = std::exchange(other.data_, nullptr);
        held_ = std::exchange(other.held_, 0);
        pool_ = std::move(other.pool_);
    }
    return *this;
}

void SegmentMemory::release() noexcept {
    if (!data_) return;
    if (pool_)
        pool_->give_back(data_);
    else
        delete[] data_;
    data_ = nullptr;
    held_ = 0;
    pool_.reset();
}

BlockPool::BlockPool(std::size_t block_bytes, std::size_t max_free_blocks)
    : block_bytes_(block_bytes), max_free_(max_free_blocks), page_bytes_(page_size()) {
    if (block_bytes_ == 0) throw std::invalid_argument("block pool: blocks of 0 bytes");
}

BlockPool::~BlockPool() {
    // Blocks still in use hold a reference to the pool, so only free ones are left here.
    for (char* block : free_) free_block(block);
}

char* BlockPool::allocate_block() {
    auto* block = static_cast<char*>(
        ::operator new(round_up(block_bytes_, page_bytes_), std::align_val_t(page_bytes_)));
    ++created_;
    return block;
}

void BlockPool::free_block(char* block) noexcept {
    ::operator delete(block, std::align_val_t(page_bytes_));
}

SegmentMemory BlockPool::take() {
    SegmentMemory memory;
    if (free_.empty()) {
        memory.data_ = allocate_block();
    } else {
        memory.data_ = free_.back();
        free_.pop_back();
        ++reused_;
    }
    memory.held_ = block_bytes_;
    memory.pool_ = shared_from_this();
    ++in_use_;
    return memory;
}

void BlockPool::give_back(char* block) noexcept {
    --in_use_;
    if (free_.size() >= max_free_) {
        free_block(block);
        return;
    }
    try {
        free_.push_back(block);
    } catch (const std::bad_alloc&) {
        free_block(block);
    }
}

void write_zeros_from_kernel(int zero_fd, char* block, std::size_t bytes) {
    for (std::size_t at = 0; at < bytes;) {
        const ssize_t n = ::read(zero_fd, block + at, bytes - at);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        at += static_cast<std::size_t>(n);
    }
}

void BlockPool::prefault(std::size_t count) {
    const std::size_t bytes = round_up(block_bytes_, page_bytes_);
    free_.reserve(free_.size() + count);
    if (max_free_ < free_.size() + count) max_free_ = free_.size() + count;
    UniqueFd zero(::open("/dev/zero", O_RDONLY | O_CLOEXEC));
    for (std::size_t i = 0; i < count; ++i) {
        char* block = allocate_block();
        // Backing a page is not all a first dump would pay for. On a VM with shadow page tables
        // (the PVM guests of docs/performance.md), the hypervisor maps a page separately for
        // the guest kernel's writes into it (recv) and for the process's own accesses, on first
        // use each. So: the kernel backs the block at once (Linux 5.14 and later; else the
        // writes below fault it in), writes into it through this mapping (a read from
        // /dev/zero, as recv will), and the process writes to every page.
        ::madvise(block, bytes, MADV_POPULATE_WRITE);
        if (zero) write_zeros_from_kernel(zero.get(), block, bytes);
        for (std::size_t at = 0; at < bytes; at += page_bytes_)
            static_cast<volatile char*>(block)[at] = 0;
        touched_ += bytes / page_bytes_;
        free_.push_back(block);
    }
}

}  // namespace imgx::store
