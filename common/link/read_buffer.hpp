// The bytes one read from a link connection took beyond what its caller asked for: kept for
// the next reads, so that a run of small frames costs one recv instead of two per frame.
#pragma once

#include <boost/asio/buffer.hpp>
#include <cstddef>
#include <memory>

namespace imgx::link {

class ReadBuffer {
  public:
    // 32 KiB: many control frames and small files' chunks per recv; a read of a large chunk
    // skips it (at most this much of a chunk is copied twice).
    static constexpr std::size_t kCapacity = 32 * 1024;

    ReadBuffer() : bytes_(std::make_unique<char[]>(kCapacity)) {}

    [[nodiscard]] std::size_t size() const noexcept { return end_ - start_; }
    // Whether a read into `buffers` should go to the socket directly (nothing kept, and it is
    // at least as large as this buffer).
    template <typename MutableBuffers>
    [[nodiscard]] bool bypass(const MutableBuffers& buffers) const {
        return size() == 0 && boost::asio::buffer_size(buffers) >= kCapacity;
    }

    // Where a read from the socket goes when the buffer is empty.
    [[nodiscard]] boost::asio::mutable_buffer space() {
        start_ = end_ = 0;
        return {bytes_.get(), kCapacity};
    }
    // `n` bytes were read into space().
    void filled(std::size_t n) noexcept { end_ = n; }

    // Moves what is kept into `buffers`, as much as fits; returns the bytes moved.
    template <typename MutableBuffers>
    std::size_t take(const MutableBuffers& buffers) {
        const std::size_t n =
            boost::asio::buffer_copy(buffers, boost::asio::buffer(bytes_.get() + start_, size()));
        start_ += n;
        return n;
    }

    void clear() noexcept { start_ = end_ = 0; }

  private:
    std::unique_ptr<char[]> bytes_;
    std::size_t start_ = 0, end_ = 0;
};

}  // namespace imgx::link
