// Chunk reordering of one file: placement checks, held chunks, the deferred size check.
#include "link/chunk_reorder.hpp"

#include <fmt/format.h>

#include "wire/frame.hpp"

namespace imgx::link {

ChunkReorder::Place ChunkReorder::place(std::uint64_t offset, std::uint64_t size) const {
    if (offset + size < offset)
        throw wire::ProtocolError(fmt::format("DATA_AT at offset {} runs past 2^64", offset));
    if (offset < next_)
        throw wire::ProtocolError(
            fmt::format("DATA_AT of {} bytes at offset {} repeats bytes already received (the "
                        "file is complete through {})",
                        size, offset, next_));
    // The held chunk at or after `offset`, and the one before it, must not overlap [offset, offset
    // + size).
    auto after = held_.lower_bound(offset);
    if (after != held_.end() && (after->first == offset || after->first < offset + size))
        throw wire::ProtocolError(
            fmt::format("DATA_AT of {} bytes at offset {} overlaps a chunk at offset {}", size,
                        offset, after->first));
    if (after != held_.begin()) {
        const auto& before = *std::prev(after);
        if (before.first + before.second.bytes.size() > offset)
            throw wire::ProtocolError(
                fmt::format("DATA_AT at offset {} overlaps a chunk of {} bytes at offset {}",
                            offset, before.second.bytes.size(), before.first));
    }
    return offset == next_ ? Place::next : Place::later;
}

void ChunkReorder::hold(Held chunk) {
    held_bytes_ += chunk.bytes.size();
    const std::uint64_t offset = chunk.offset;
    held_.emplace(offset, std::move(chunk));
}

std::optional<ChunkReorder::Held> ChunkReorder::take_next() {
    auto first = held_.begin();
    if (first == held_.end() || first->first != next_) return std::nullopt;
    Held chunk = std::move(first->second);
    held_.erase(first);
    held_bytes_ -= chunk.bytes.size();
    return chunk;
}

std::uint64_t ChunkReorder::end() const noexcept {
    if (held_.empty()) return next_;
    const auto& last = *held_.rbegin();
    return last.first + last.second.bytes.size();
}

std::vector<ChunkReorder::Held> ChunkReorder::drop_held() {
    std::vector<Held> out;
    out.reserve(held_.size());
    for (auto& [offset, chunk] : held_) out.push_back(std::move(chunk));
    held_.clear();
    held_bytes_ = 0;
    return out;
}

}  // namespace imgx::link
