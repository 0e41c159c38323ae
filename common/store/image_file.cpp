// Building and verifying image files, in memory or (beyond the memory budget) on disk.
#include "store/image_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

#include "store/file_ops.hpp"

namespace imgx::store {

namespace {

// An unnamed file in `dir` (gone when closed, so a crash leaves nothing behind); a named file
// removed at once where O_TMPFILE is not supported.
UniqueFd open_spool_file(const std::string& dir) {
    UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (fd || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) return fd;
    std::string path = dir + "/img-cached-spool-XXXXXX";
    fd.reset(::mkostemp(path.data(), O_CLOEXEC));
    if (fd) ::unlink(path.c_str());
    return fd;
}

// "64 MiB", or the exact bytes when the limit is not whole MiB.
std::string describe_budget(const MemoryBudget& budget) {
    constexpr std::uint64_t kMib = 1 << 20;
    if (budget.limit() % kMib == 0) return fmt::format("{} MiB", budget.limit() / kMib);
    return fmt::format("{} bytes", budget.limit());
}

}  // namespace

bool write_fully_at(int fd, const char* data, std::size_t size, std::uint64_t offset) {
    while (size > 0) {
        const ssize_t n = file_ops.pwrite(fd, data, size, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n == 0) errno = EIO;
            return false;
        }
        data += n;
        size -= static_cast<std::size_t>(n);
        offset += static_cast<std::uint64_t>(n);
    }
    return true;
}

ImageFileBuilder::ImageFileBuilder(std::string name, FileStorage storage)
    : file_(std::make_shared<ImageFile>()),
      storage_(std::move(storage)),
      hash_(XXH3_createState()) {
    if (!hash_) throw std::bad_alloc();
    XXH3_64bits_reset(hash_);
    file_->name = std::move(name);
    file_->memory = MemoryCharge(storage_.budget);
}

ImageFileBuilder::~ImageFileBuilder() { XXH3_freeState(hash_); }

char* ImageFileBuilder::prepare_segment(std::size_t size) {
    pending_size_ = size;
    pending_data_ = room_in_last_block(size);
    if (!pending_data_) {
        pending_memory_ = new_memory(size);
        pending_data_ = pending_memory_.get();
    }
    return pending_data_;
}

char* ImageFileBuilder::room_in_last_block(std::size_t size) const {
    if (file_->segments.empty()) return nullptr;
    const Segment& last = file_->segments.back();
    if (!last.bytes.pooled() || last.bytes.held() - last.size < size) return nullptr;
    return last.bytes.get() + last.size;
}

SegmentMemory ImageFileBuilder::new_memory(std::size_t size) const {
    const auto& pool = storage_.pool;
    if (pool && (pool->fits_block(size) ||
                 (size <= pool->block_bytes() && file_->size >= pool->block_bytes())))
        return pool->take();
    return SegmentMemory::allocate(size);
}

void ImageFileBuilder::commit_segment() {
    if (pending_size_ > 0) {
        const std::uint64_t at = file_->size;
        if (storage_.persist) write_pending(*storage_.persist, at);
        if (!pending_memory_ || file_->memory.try_add(pending_memory_.held())) {
            add_pending_in_memory();
        } else if (storage_.persist) {
            // Already on disk: serve this piece from there.
            storage_.budget->spilled_bytes += pending_size_;
            add_pending_from(storage_.persist, at);
        } else if (!storage_.spool_dir.empty()) {
            auto& into = spool();
            write_pending(*into, spool_size_);
            storage_.budget->spilled_bytes += pending_size_;
            add_pending_from(into, spool_size_);
            spool_size_ += pending_size_;
        } else {
            throw StorageError(fmt::format(
                "{}: memory budget of {} reached and no spool directory configured "
                "(file {} at byte {}; set spool_dir or state_dir, or raise memory_budget_mib)",
                storage_.owner, describe_budget(*storage_.budget), file_->name, at));
        }
    }
    // Memory of a piece kept on disk goes back (to the pool, for the next piece).
    pending_memory_ = {};
    pending_data_ = nullptr;
    pending_size_ = 0;
}

// The pending piece stays in memory: in its own memory (already charged), or in the rest of the
// last block, which was charged whole when it was taken.
void ImageFileBuilder::add_pending_in_memory() {
    XXH3_64bits_update(hash_, pending_data_, pending_size_);
    file_->size += pending_size_;
    if (!pending_memory_) {
        file_->segments.back().size += pending_size_;
        return;
    }
    Segment piece;
    piece.bytes = std::move(pending_memory_);
    piece.size = pending_size_;
    file_->segments.push_back(std::move(piece));
}

void ImageFileBuilder::add_pending_from(const std::shared_ptr<BackingFile>& backing,
                                        std::uint64_t offset) {
    XXH3_64bits_update(hash_, pending_data_, pending_size_);
    file_->size += pending_size_;
    // Pieces that follow each other in the same file are served as one.
    auto& segments = file_->segments;
    if (!segments.empty() && segments.back().backing == backing &&
        segments.back().offset + segments.back().size == offset) {
        segments.back().size += pending_size_;
        return;
    }
    Segment piece;
    piece.size = pending_size_;
    piece.backing = backing;
    piece.offset = offset;
    segments.push_back(std::move(piece));
}

void ImageFileBuilder::write_pending(const BackingFile& into, std::uint64_t offset) {
    if (!write_fully_at(into.fd.get(), pending_data_, pending_size_, offset)) {
        const int error = errno;
        throw StorageError(fmt::format("{}: cannot write file {} to {}: {}", storage_.owner,
                                       file_->name, into.path, std::strerror(error)));
    }
}

std::shared_ptr<BackingFile>& ImageFileBuilder::spool() {
    if (!spool_) {
        UniqueFd fd = open_spool_file(storage_.spool_dir);
        if (!fd) {
            const int error = errno;
            throw StorageError(
                fmt::format("{}: memory budget of {} reached and no spool file can be created in "
                            "{} for file {}: {}",
                            storage_.owner, describe_budget(*storage_.budget), storage_.spool_dir,
                            file_->name, std::strerror(error)));
        }
        spool_ = std::make_shared<BackingFile>(BackingFile{std::move(fd), storage_.spool_dir});
    }
    return spool_;
}

std::shared_ptr<const ImageFile> ImageFileBuilder::take() {
    file_->xxh3 = XXH3_64bits_digest(hash_);
    file_->persisted = storage_.persist;
    return std::move(file_);
}

std::shared_ptr<const ImageFile> ImageFileBuilder::finish(std::uint64_t size, std::uint64_t xxh3,
                                                          std::string& problem) {
    const std::uint64_t digest = XXH3_64bits_digest(hash_);
    if (size != file_->size) {
        problem =
            fmt::format("size mismatch: sender says {} bytes, received {}", size, file_->size);
        return nullptr;
    }
    if (xxh3 != digest) {
        problem = fmt::format(
            "checksum mismatch: sender says xxh3 {:016x}, received data has {:016x}", xxh3, digest);
        return nullptr;
    }
    file_->xxh3 = digest;
    file_->persisted = storage_.persist;
    return std::move(file_);
}

}  // namespace imgx::store
