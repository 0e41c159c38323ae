// The bytes of one image file: immutable once complete, shared by every reader.
#pragma once

#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/block_pool.hpp"
#include "store/memory_budget.hpp"
#include "util/unique_fd.hpp"

namespace imgx::store {

// An open file that holds pieces of image files: a persisted image in the state directory, or
// an unnamed spool file. Its contents are never changed once a piece of it is stored.
struct BackingFile {
    UniqueFd fd;
    std::string path;  // for messages: the file, or the directory of an unnamed spool file
};

// A piece of a file as it arrived (one link DATA frame), in memory or in a backing file.
struct Segment {
    SegmentMemory bytes;   // the piece in memory; null when it is in `backing`
    std::size_t size = 0;  // of a pooled block, the first `size` bytes are the piece
    std::shared_ptr<const BackingFile> backing;  // set when the piece is not in memory
    std::uint64_t offset = 0;                    // where the piece starts in `backing`
};

struct ImageFile {
    std::string name;
    std::vector<Segment> segments;
    std::uint64_t size = 0;
    std::uint64_t xxh3 = 0;
    MemoryCharge memory;  // what the in-memory segments take from the daemon's budget
    // The whole file on disk when its snapshot is persisted (the state directory), else null.
    std::shared_ptr<const BackingFile> persisted;
};

// A piece could be kept neither in memory nor on disk (budget reached without a spool
// directory, disk full, I/O error). The message names the snapshot, the file and the directory.
class StorageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Where a builder keeps a file's bytes. The default is memory without a limit.
struct FileStorage {
    std::shared_ptr<MemoryBudget> budget;  // null: no limit
    // Every byte is also written here (a persisted snapshot); null: not persisted. Pieces that
    // do not fit the budget are then served from this file.
    std::shared_ptr<BackingFile> persist;
    // Without `persist`: pieces that do not fit the budget go to an unnamed file in this
    // directory; "" means nowhere, and such a piece fails the file.
    std::string spool_dir;
    std::string owner = "image store";  // "snapshot 'ID'", for messages
    // Large pieces go into blocks of this pool (null: every piece is allocated at its size).
    std::shared_ptr<BlockPool> pool;
};

// Accumulates a file while it arrives and checks it against the sender's size and checksum.
class ImageFileBuilder {
  public:
    explicit ImageFileBuilder(std::string name, FileStorage storage = {});
    ImageFileBuilder(const ImageFileBuilder&) = delete;
    ImageFileBuilder& operator=(const ImageFileBuilder&) = delete;
    ~ImageFileBuilder();

    // Room for the next `size` bytes; fill it, then call commit_segment(). With a pool, the room
    // is in a block: the rest of the file's last block when the piece fits there, a new block
    // for a piece of more than half a block (or any piece once the file has a block's worth),
    // otherwise an allocation of exactly `size`.
    char* prepare_segment(std::size_t size);
    // Adds the prepared piece. Throws StorageError when it can be kept neither in memory nor on
    // disk; the file is unusable then.
    void commit_segment();

    [[nodiscard]] std::uint64_t size() const noexcept { return file_->size; }
    [[nodiscard]] const std::string& name() const noexcept { return file_->name; }

    // The finished file as received, for data whose integrity was checked elsewhere.
    std::shared_ptr<const ImageFile> take();

    // Returns the finished file if size and XXH3-64 match, otherwise nothing and `problem` says
    // why.
    std::shared_ptr<const ImageFile> finish(std::uint64_t size, std::uint64_t xxh3,
                                            std::string& problem);

  private:
    void write_pending(const BackingFile& into, std::uint64_t offset);
    [[nodiscard]] char* room_in_last_block(std::size_t size) const;
    [[nodiscard]] SegmentMemory new_memory(std::size_t size) const;
    void add_pending_in_memory();
    void add_pending_from(const std::shared_ptr<BackingFile>& backing, std::uint64_t offset);
    std::shared_ptr<BackingFile>& spool();

    std::shared_ptr<ImageFile> file_;
    FileStorage storage_;
    XXH3_state_t* hash_;
    // The prepared piece: where it is and, unless it goes into the last block, its own memory.
    char* pending_data_ = nullptr;
    std::size_t pending_size_ = 0;
    SegmentMemory pending_memory_;
    std::shared_ptr<BackingFile> spool_;
    std::uint64_t spool_size_ = 0;
};

// Writes all of `size` bytes at `offset`; false with errno set on failure.
bool write_fully_at(int fd, const char* data, std::size_t size, std::uint64_t offset);

}  // namespace imgx::store
