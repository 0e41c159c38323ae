// Which lane of a multi-lane link session carries the next DATA_AT chunk: the one with the
// fewest unacknowledged bytes (docs/link-protocol.md, "Lanes"). Pure: no sockets.
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

    // The lane for the next chunk: among the lanes `up` says are connected (all of them if none
    // is), the one with the fewest unacknowledged bytes. Ties go round: the search starts after
    // the lane chosen last, so idle lanes share the chunks instead of the first taking them all.
    template <typename Up>
    std::size_t choose(Up up) {
        const std::size_t count = lanes_.size();
        bool any_up = false;
        for (std::size_t i = 0; i < count; ++i) any_up = any_up || up(i);
        std::size_t best = 0;
        bool found = false;
        for (std::size_t k = 0; k < count; ++k) {
            const std::size_t i = (start_ + k) % count;
            if (any_up && !up(i)) continue;
            if (!found || lanes_[i].unacknowledged < lanes_[best].unacknowledged) best = i;
            found = true;
        }
        start_ = (best + 1) % count;
        return best;
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
