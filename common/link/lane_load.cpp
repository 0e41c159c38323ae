// Lane load book-keeping and the delivery-rate measurement behind LaneLoad::choose().
#include "link/lane_load.hpp"

#include <algorithm>

namespace imgx::link {

void LaneLoad::queued(std::size_t lane, std::uint64_t number, std::uint64_t bytes) {
    auto& l = lanes_.at(lane);
    l.frames.emplace_back(number, bytes);
    l.unacknowledged += bytes;
}

void LaneLoad::acknowledged(std::size_t lane, std::uint64_t through) {
    auto& l = lanes_.at(lane);
    while (!l.frames.empty() && l.frames.front().first <= through) {
        l.unacknowledged -= l.frames.front().second;
        l.frames.pop_front();
    }
}

std::uint64_t LaneLoad::unwritten(std::size_t lane, std::uint64_t written_through) const {
    std::uint64_t bytes = 0;
    const auto& frames = lanes_.at(lane).frames;
    for (auto it = frames.rbegin(); it != frames.rend() && it->first > written_through; ++it)
        bytes += it->second;
    return bytes;
}

void LaneLoad::new_connection(std::size_t lane) {
    if (lane >= lanes_.size()) return;
    lanes_[lane].sample_at.reset();
}

void LaneLoad::observe(std::size_t lane, std::uint64_t written_through, std::uint64_t in_kernel,
                       std::uint64_t delivered, Clock::time_point now) {
    auto& l = lanes_.at(lane);
    l.on_the_way = unwritten(lane, written_through) + in_kernel;
    const bool busy = l.on_the_way > 0;
    if (!l.sample_at || delivered < l.sample_delivered) {
        l.sample_at = now;
        l.sample_delivered = delivered;
        l.sample_busy = busy;
    } else if (now - *l.sample_at >= kLaneRateWindow) {
        // Only a lane that had bytes waiting at both ends shows what it can deliver; one that
        // delivered nothing meanwhile is stalled, and counts as very slow rather than unknown.
        if (l.sample_busy && busy) {
            const double seconds = std::chrono::duration<double>(now - *l.sample_at).count();
            const double measured =
                std::max(1.0, static_cast<double>(delivered - l.sample_delivered) / seconds);
            l.rate = l.rate > 0 ? (l.rate + measured) / 2 : measured;
        }
        l.sample_at = now;
        l.sample_delivered = delivered;
        l.sample_busy = busy;
    }
    if (busy)
        l.last_busy = now;
    else if (l.rate > 0 && now - l.last_busy >= kLaneRateMemory)
        l.rate = 0;
}

double LaneLoad::fastest_rate() const {
    double fastest = 0;
    for (const auto& l : lanes_) fastest = std::max(fastest, l.rate);
    return fastest;
}

double LaneLoad::arrival(const Lane& lane, std::uint64_t chunk_bytes, double fastest) {
    if (fastest <= 0) return 0;
    const double rate = lane.rate > 0 ? lane.rate : fastest;
    return static_cast<double>(lane.on_the_way + chunk_bytes) / rate;
}

}  // namespace imgx::link
