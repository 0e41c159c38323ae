// Large blocks of memory for image bytes, kept and reused instead of freed: memory the process
// has already faulted in takes data many times faster than fresh pages (docs/performance.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

namespace imgx::store {

class BlockPool;

// The memory holding one piece of an image file: a block of a pool, or an allocation of exactly
// the piece's size. A block goes back to its pool when this goes away, an allocation to the heap.
class SegmentMemory {
  public:
    SegmentMemory() = default;
    // `size` bytes from the heap, not pooled.
    static SegmentMemory allocate(std::size_t size);
    SegmentMemory(SegmentMemory&& other) noexcept;
    SegmentMemory& operator=(SegmentMemory&& other) noexcept;
    SegmentMemory(const SegmentMemory&) = delete;
    SegmentMemory& operator=(const SegmentMemory&) = delete;
    ~SegmentMemory() { release(); }

    [[nodiscard]] char* get() const noexcept { return data_; }
    explicit operator bool() const noexcept { return data_ != nullptr; }
    // The bytes of memory this holds: a whole block when pooled (what a memory budget is charged).
    [[nodiscard]] std::size_t held() const noexcept { return held_; }
    [[nodiscard]] bool pooled() const noexcept { return pool_ != nullptr; }

  private:
    friend class BlockPool;
    void release() noexcept;

    char* data_ = nullptr;
    std::size_t held_ = 0;
    std::shared_ptr<BlockPool> pool_;  // null: heap memory (or none)
};

// Blocks of one size, all aligned to pages. A block in use belongs to exactly one stored file;
// when that file goes away (its snapshot dropped, replaced or failed, and no restore still
// holding it) the block comes back here. At most `max_free_blocks` are kept free; the rest go
// back to the heap. Single-threaded: one daemon's io_context. Create with std::make_shared.
class BlockPool : public std::enable_shared_from_this<BlockPool> {
  public:
    static constexpr std::size_t kDefaultBlockBytes = 1 << 20;  // img-proxyd's largest DATA chunk
    static constexpr std::size_t kNoBound = std::numeric_limits<std::size_t>::max();

    explicit BlockPool(std::size_t block_bytes = kDefaultBlockBytes,
                       std::size_t max_free_blocks = kNoBound);
    BlockPool(const BlockPool&) = delete;
    BlockPool& operator=(const BlockPool&) = delete;
    ~BlockPool();

    // Whether a piece of `size` bytes gets a block: more than half a block and no more than one.
    // Smaller pieces get exactly their size from the heap, so many tiny files do not each hold a
    // block (ImageFileBuilder also fills a block with several small pieces of one large file).
    [[nodiscard]] bool fits_block(std::size_t size) const noexcept {
        return size > block_bytes_ / 2 && size <= block_bytes_;
    }
    // A free block, or a new one when none is free. Throws std::bad_alloc.
    SegmentMemory take();

    // Allocates `count` blocks, writes to every page of them so that the kernel backs them with
    // memory now, and keeps them free (the bound on free blocks grows to hold them if needed).
    // Throws std::bad_alloc.
    void prefault(std::size_t count);

    [[nodiscard]] std::size_t block_bytes() const noexcept { return block_bytes_; }
    [[nodiscard]] std::size_t max_free_blocks() const noexcept { return max_free_; }
    [[nodiscard]] std::size_t free_blocks() const noexcept { return free_.size(); }
    [[nodiscard]] std::size_t blocks_in_use() const noexcept { return in_use_; }
    // Blocks allocated from the heap, and take() calls answered with a free block instead.
    [[nodiscard]] std::uint64_t blocks_created() const noexcept { return created_; }
    [[nodiscard]] std::uint64_t blocks_reused() const noexcept { return reused_; }
    // Pages written by prefault() (one byte each).
    [[nodiscard]] std::uint64_t pages_touched() const noexcept { return touched_; }

  private:
    friend class SegmentMemory;
    char* allocate_block();
    void free_block(char* block) noexcept;
    void give_back(char* block) noexcept;

    std::size_t block_bytes_;
    std::size_t max_free_;
    std::size_t page_bytes_;
    std::vector<char*> free_;
    std::size_t in_use_ = 0;
    std::uint64_t created_ = 0;
    std::uint64_t reused_ = 0;
    std::uint64_t touched_ = 0;
};

// Writes zeros into [block, block + bytes) from the kernel, through this process's mapping of it
// (reads from `zero_fd`, an open /dev/zero); stops early on a read error. On these VMs the
// kernel's first write into a page is slow even when the process wrote it already: see prefault.
void write_zeros_from_kernel(int zero_fd, char* block, std::size_t bytes);

}  // namespace imgx::store
