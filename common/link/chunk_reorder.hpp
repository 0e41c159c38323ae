// Puts the chunks of one file back in order on a link session with several lanes
// (docs/link-protocol.md, "Lanes"): DATA_AT chunks may arrive ahead of the bytes before them,
// and FILE_END may arrive before the file's last chunks. Pure: no sockets, no store.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace imgx::link {

class ChunkReorder {
  public:
    // A chunk that arrived ahead of the file's next byte, with the lane and frame number it came
    // in (that lane acknowledges the frame only once the chunk is part of the file).
    struct Held {
        std::uint64_t offset = 0;
        std::vector<char> bytes;
        std::uint32_t lane = 0;
        std::uint64_t frame = 0;
    };
    enum class Place { next, later };

    // Where a chunk of `size` bytes at `offset` belongs: `next` (it continues the file: append it,
    // then call appended()) or `later` (hold() it). Throws wire::ProtocolError when it repeats or
    // overlaps bytes already received or held.
    [[nodiscard]] Place place(std::uint64_t offset, std::uint64_t size) const;
    // The chunk at next() of `size` bytes is now part of the file.
    void appended(std::uint64_t size) noexcept { next_ += size; }
    // Keeps a chunk place() called `later`.
    void hold(Held chunk);
    // Removes and returns the held chunk that continues the file now, if there is one.
    std::optional<Held> take_next();

    // FILE_END announced the file's size; the check waits until ready_to_check().
    void set_size(std::uint64_t size) noexcept { size_ = size; }
    [[nodiscard]] bool size_known() const noexcept { return size_.has_value(); }
    [[nodiscard]] std::uint64_t announced_size() const noexcept { return size_.value_or(0); }
    // The size is known and the file holds every byte up to it, or bytes beyond it arrived (the
    // check then fails on the size): either way the verdict need not wait for more chunks.
    [[nodiscard]] bool ready_to_check() const noexcept {
        return size_ && (next_ >= *size_ || end() > *size_);
    }

    // Bytes in order from the start of the file.
    [[nodiscard]] std::uint64_t next() const noexcept { return next_; }
    // One past the last byte received, held chunks included.
    [[nodiscard]] std::uint64_t end() const noexcept;
    [[nodiscard]] std::uint64_t held_bytes() const noexcept { return held_bytes_; }
    [[nodiscard]] std::size_t held_count() const noexcept { return held_.size(); }
    // Every held chunk goes (the file or its session ends); returns them for their lanes.
    std::vector<Held> drop_held();

  private:
    std::uint64_t next_ = 0;
    std::map<std::uint64_t, Held> held_;  // by offset
    std::uint64_t held_bytes_ = 0;
    std::optional<std::uint64_t> size_;
};

}  // namespace imgx::link
