// Which lane of a multi-lane link session carries the next DATA_AT chunk: the one where it
// would reach the peer first, judged by the bytes still on their way on each lane and the rate
// each lane was seen to deliver at (docs/link-protocol.md, "Lanes"). Pure: no sockets; the
// caller passes what the sockets say and the time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

namespace imgx::link {

// A lane's delivery rate is measured over at least this long, while it has bytes on their way.
inline constexpr std::chrono::milliseconds kLaneRateWindow{20};
// A lane with nothing on its way for this long loses its measured rate, so that a lane once
// slow is tried again (one chunk) instead of being left out for good.
inline constexpr std::chrono::seconds kLaneRateMemory{5};

class LaneLoad {
  public:
    using Clock = std::chrono::steady_clock;

    explicit LaneLoad(std::size_t lanes = 1) : lanes_(lanes) {}

    // Starts over with `lanes` lanes, none loaded.
    void reset(std::size_t lanes) {
        lanes_.assign(lanes, {});
        start_ = 0;
    }
    [[nodiscard]] std::size_t lanes() const noexcept { return lanes_.size(); }

    // Frame `number` of `lane` carries `bytes` bytes of file data.
    void queued(std::size_t lane, std::uint64_t number, std::uint64_t bytes);
    // The peer acknowledged the frames of `lane` through `through`.
    void acknowledged(std::size_t lane, std::uint64_t through);
    // The lane's frames are gone (its session ended).
    void clear(std::size_t lane) { lanes_.at(lane) = {}; }

    [[nodiscard]] std::uint64_t unacknowledged(std::size_t lane) const {
        return lanes_.at(lane).unacknowledged;
    }
    // Bytes of the lane's chunks numbered after `written_through` (not yet handed to the kernel).
    [[nodiscard]] std::uint64_t unwritten(std::size_t lane, std::uint64_t written_through) const;

    // Lane `lane` has a new connection: its delivery measurement starts afresh. (Ignores a lane
    // beyond lanes(): a session's lanes are counted once its first connection is up.)
    void new_connection(std::size_t lane);
    // How lane `lane` stands at `now`: its frames through `written_through` are written,
    // `in_kernel` bytes wait in its socket's send queue, and the peer's kernel has acknowledged
    // `delivered` bytes of the connection so far.
    void observe(std::size_t lane, std::uint64_t written_through, std::uint64_t in_kernel,
                 std::uint64_t delivered, Clock::time_point now);
    // From the last observe(): bytes queued or in the kernel.
    [[nodiscard]] std::uint64_t on_the_way(std::size_t lane) const {
        return lanes_.at(lane).on_the_way;
    }
    // Bytes per second the lane delivered while it had bytes on their way; 0: not known.
    [[nodiscard]] double rate(std::size_t lane) const { return lanes_.at(lane).rate; }

    // The lane for the next chunk of `chunk_bytes`: among the lanes `up` says are connected (all
    // of them if none is), the one where the chunk would arrive first (bytes on the way and the
    // chunk, over the lane's rate; a lane of unknown rate counts as the fastest known), then the
    // one with the fewest bytes on the way, then the fewest unacknowledged. Unacknowledged bytes
    // alone cannot tell a slow lane: the peer holds back the ACKs of every lane's chunks that wait
    // for a chunk still on the slow one. Ties go round, so idle lanes share the chunks.
    template <typename Up>
    std::size_t choose(Up up, std::uint64_t chunk_bytes = 0) {
        const std::size_t count = lanes_.size();
        bool any_up = false;
        for (std::size_t i = 0; i < count; ++i) any_up = any_up || up(i);
        const double fastest = fastest_rate();
        std::size_t best = 0;
        std::tuple<double, std::uint64_t, std::uint64_t> best_key;
        bool found = false;
        for (std::size_t k = 0; k < count; ++k) {
            const std::size_t i = (start_ + k) % count;
            if (any_up && !up(i)) continue;
            const auto key = std::make_tuple(arrival(lanes_[i], chunk_bytes, fastest),
                                             lanes_[i].on_the_way, lanes_[i].unacknowledged);
            if (!found || key < best_key) {
                best = i;
                best_key = key;
            }
            found = true;
        }
        start_ = (best + 1) % count;
        return best;
    }

  private:
    struct Lane {
        std::deque<std::pair<std::uint64_t, std::uint64_t>>
            frames;  // (number, bytes), oldest first
        std::uint64_t unacknowledged = 0;
        std::uint64_t on_the_way = 0;
        double rate = 0;
        // The measurement in progress: since when, what was delivered then, whether the lane
        // had bytes on their way then.
        std::optional<Clock::time_point> sample_at;
        std::uint64_t sample_delivered = 0;
        bool sample_busy = false;
        Clock::time_point last_busy{};
    };
    [[nodiscard]] double fastest_rate() const;
    // Seconds until a chunk of `chunk_bytes` would have reached the peer on `lane` (0 for every
    // lane while no rate is known: the other keys decide).
    [[nodiscard]] static double arrival(const Lane& lane, std::uint64_t chunk_bytes,
                                        double fastest);

    std::vector<Lane> lanes_;
    std::size_t start_ = 0;  // where the next search begins
};

}  // namespace imgx::link
