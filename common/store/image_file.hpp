// The bytes of one image file: immutable once complete, shared by every reader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <xxhash.h>

namespace imgx::store {

// A piece of a file as it arrived (one link DATA frame).
struct Segment {
    std::unique_ptr<char[]> bytes;
    std::size_t size = 0;
};

struct ImageFile {
    std::string name;
    std::vector<Segment> segments;
    std::uint64_t size = 0;
    std::uint64_t xxh3 = 0;
};

// Accumulates a file while it arrives and checks it against the sender's size and checksum.
class ImageFileBuilder {
public:
    explicit ImageFileBuilder(std::string name);
    ImageFileBuilder(const ImageFileBuilder&) = delete;
    ImageFileBuilder& operator=(const ImageFileBuilder&) = delete;
    ~ImageFileBuilder();

    // Room for the next `size` bytes; fill it, then call commit_segment().
    char* prepare_segment(std::size_t size);
    void commit_segment();

    [[nodiscard]] std::uint64_t size() const noexcept { return file_->size; }
    [[nodiscard]] const std::string& name() const noexcept { return file_->name; }

    // The finished file as received, for data whose integrity was checked elsewhere.
    std::shared_ptr<const ImageFile> take();

    // Returns the finished file if size and XXH3-64 match, otherwise nothing and `problem` says why.
    std::shared_ptr<const ImageFile> finish(std::uint64_t size, std::uint64_t xxh3, std::string& problem);

private:
    std::shared_ptr<ImageFile> file_;
    XXH3_state_t* hash_;
    Segment pending_;
};

}  // namespace imgx::store
