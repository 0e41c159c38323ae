// Building and verifying image files.
#include "store/image_file.hpp"

#include <fmt/format.h>

#include <new>

namespace imgx::store {

ImageFileBuilder::ImageFileBuilder(std::string name)
    : file_(std::make_shared<ImageFile>()), hash_(XXH3_createState()) {
    if (!hash_) throw std::bad_alloc();
    XXH3_64bits_reset(hash_);
    file_->name = std::move(name);
}

ImageFileBuilder::~ImageFileBuilder() { XXH3_freeState(hash_); }

char* ImageFileBuilder::prepare_segment(std::size_t size) {
    pending_.bytes.reset(new char[size]);
    pending_.size = size;
    return pending_.bytes.get();
}

void ImageFileBuilder::commit_segment() {
    if (pending_.size == 0) return;
    XXH3_64bits_update(hash_, pending_.bytes.get(), pending_.size);
    file_->size += pending_.size;
    file_->segments.push_back(std::move(pending_));
    pending_ = {};
}

std::shared_ptr<const ImageFile> ImageFileBuilder::take() {
    file_->xxh3 = XXH3_64bits_digest(hash_);
    return std::move(file_);
}

std::shared_ptr<const ImageFile> ImageFileBuilder::finish(std::uint64_t size, std::uint64_t xxh3,
                                                          std::string& problem) {
    const std::uint64_t digest = XXH3_64bits_digest(hash_);
    if (size != file_->size) {
        problem = fmt::format("size mismatch: sender says {} bytes, received {}", size, file_->size);
        return nullptr;
    }
    if (xxh3 != digest) {
        problem = fmt::format("checksum mismatch: sender says xxh3 {:016x}, received data has {:016x}", xxh3,
                              digest);
        return nullptr;
    }
    file_->xxh3 = digest;
    return std::move(file_);
}

}  // namespace imgx::store
