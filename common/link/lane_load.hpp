// Which lane of a multi-lane link session carries the next DATA_AT chunk: the one with the
// fewest bytes still on their way to the peer, then the fewest unacknowledged bytes
// (docs/link-protocol.md, "Lanes"). Pure: no sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

namespace imgx::link {

class LaneLoad {
public:
    explicit LaneLoad(std::size_t lanes = 1) : lanes_(lanes) {}

    // Starts over with `lanes` lanes, none loaded.
    void reset(std::size_t lanes) {
        lanes_.assign(lanes, {});
        start_ = 0;
    }
    [[nodiscard]] std::size_t lanes() const noexcept { return lanes_.size(); }

    // Frame `number` of `lane` carries `bytes` bytes of file data.
    void queued(std::size_t lane, std::uint64_t number, std::uint64_t bytes) {
        auto& l = lanes_.at(lane);
        l.frames.emplace_back(number, bytes);
        l.unacknowledged += bytes;
    }
    // The peer acknowledged the frames of `lane` through `through`.
    void acknowledged(std::size_t lane, std::uint64_t through) {
        auto& l = lanes_.at(lane);
        while (!l.frames.empty() && l.frames.front().first <= through) {
            l.unacknowledged -= l.frames.front().second;
            l.frames.pop_front();
        }
    }
    // The lane's frames are gone (its session ended).
    void clear(std::size_t lane) { lanes_.at(lane) = {}; }

    [[nodiscard]] std::uint64_t unacknowledged(std::size_t lane) const { return lanes_.at(lane).unacknowledged; }
    // Bytes of the lane's chunks numbered after `written_through` (not yet handed to the kernel).
    [[nodiscard]] std::uint64_t unwritten(std::size_t lane, std::uint64_t written_through) const {
        std::uint64_t bytes = 0;
        const auto& frames = lanes_.at(lane).frames;
        for (auto it = frames.rbegin(); it != frames.rend() && it->first > written_through; ++it) bytes += it->second;
        return bytes;
    }

    // The lane for the next chunk: among the lanes `up` says are connected (all of them if none
    // is), the one with the fewest bytes `on_the_way` (queued, or in the kernel and not yet
    // taken by the peer: a slow lane's bytes pile up there), then the fewest unacknowledged
    // bytes. Unacknowledged bytes alone do not tell a slow lane: the peer holds back the ACKs of
    // every lane's chunks that wait for a chunk still on the slow one. Ties go round: the search
    // starts after the lane chosen last, so idle lanes share the chunks.
    template <typename Up, typename OnTheWay>
    std::size_t choose(Up up, OnTheWay on_the_way) {
        const std::size_t count = lanes_.size();
        bool any_up = false;
        for (std::size_t i = 0; i < count; ++i) any_up = any_up || up(i);
        std::size_t best = 0;
        std::pair<std::uint64_t, std::uint64_t> best_load;
        bool found = false;
        for (std::size_t k = 0; k < count; ++k) {
            const std::size_t i = (start_ + k) % count;
            if (any_up && !up(i)) continue;
            const std::pair<std::uint64_t, std::uint64_t> load{on_the_way(i), lanes_[i].unacknowledged};
            if (!found || load < best_load) {
                best = i;
                best_load = load;
            }
            found = true;
        }
        start_ = (best + 1) % count;
        return best;
    }
    // The same, knowing nothing of bytes on the way.
    template <typename Up>
    std::size_t choose(Up up) {
        return choose(up, [](std::size_t) { return std::uint64_t{0}; });
    }

private:
    struct Lane {
        std::deque<std::pair<std::uint64_t, std::uint64_t>> frames;  // (number, bytes), oldest first
        std::uint64_t unacknowledged = 0;
    };
    std::vector<Lane> lanes_;
    std::size_t start_ = 0;  // where the next search begins
};

}  // namespace imgx::link
