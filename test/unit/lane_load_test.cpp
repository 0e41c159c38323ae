// Multi-lane link sessions: the lane with the fewest unacknowledged bytes carries the next chunk.
#include <catch2/catch.hpp>

#include "link/lane_load.hpp"

using namespace imgx::link;

namespace {
auto all_up = [](std::size_t) { return true; };
}

TEST_CASE("an idle set of lanes starts with the lowest lane") {
    LaneLoad load(4);
    CHECK(load.choose(all_up) == 0);
}

TEST_CASE("chunks spread over the lanes with the fewest unacknowledged bytes") {
    LaneLoad load(3);
    std::uint64_t numbers[3] = {0, 0, 0};
    for (int i = 0; i < 6; ++i) {
        const auto lane = load.choose(all_up);
        load.queued(lane, ++numbers[lane], 100);
    }
    CHECK(load.unacknowledged(0) == 200);
    CHECK(load.unacknowledged(1) == 200);
    CHECK(load.unacknowledged(2) == 200);
}

TEST_CASE("acknowledgements free a lane's load; a slow lane gets fewer chunks") {
    LaneLoad load(2);
    load.queued(0, 1, 100);
    load.queued(0, 2, 100);
    load.queued(1, 1, 100);
    load.queued(1, 2, 100);
    load.acknowledged(1, 2);  // lane 1 is fast, lane 0 has acknowledged nothing
    CHECK(load.unacknowledged(1) == 0);
    CHECK(load.choose(all_up) == 1);
    load.queued(1, 3, 300);
    CHECK(load.choose(all_up) == 0);  // now lane 1 holds more
    load.acknowledged(0, 1);
    CHECK(load.unacknowledged(0) == 100);
    load.acknowledged(0, 1);  // a repeated acknowledgement changes nothing
    CHECK(load.unacknowledged(0) == 100);
}

TEST_CASE("idle lanes take turns, so every lane carries chunks when acknowledgements are quick") {
    LaneLoad load(4);
    std::vector<std::size_t> chosen;
    for (int i = 0; i < 8; ++i) chosen.push_back(load.choose(all_up));  // each acknowledged at once
    CHECK(chosen == std::vector<std::size_t>{0, 1, 2, 3, 0, 1, 2, 3});
}

TEST_CASE("lanes that are down get no chunks while another is up") {
    LaneLoad load(3);
    load.queued(0, 1, 500);
    auto only_lane_0 = [](std::size_t lane) { return lane == 0; };
    CHECK(load.choose(only_lane_0) == 0);
    auto none = [](std::size_t) { return false; };
    CHECK(load.choose(none) == 1);  // nothing is up: the least loaded waits for its connection
    load.clear(0);
    CHECK(load.unacknowledged(0) == 0);
    load.reset(1);
    CHECK(load.lanes() == 1);
    CHECK(load.choose(all_up) == 0);
}

TEST_CASE("a lane with bytes piling up on their way gets no chunk, even with fewer unacknowledged bytes") {
    // The peer holds back the ACKs of fast lanes' chunks that wait for a chunk still on the slow
    // lane, so unacknowledged bytes look alike on every lane; what is still on its way does not.
    LaneLoad load(3);
    load.queued(0, 1, 100);                                           // the slow lane: queued...
    load.queued(1, 1, 100);
    load.queued(1, 2, 100);
    load.queued(2, 1, 100);
    load.queued(2, 2, 100);
    auto on_the_way = [&](std::size_t lane) { return load.unwritten(lane, lane == 0 ? 0 : 2) + (lane == 0 ? 500 : 0); };
    CHECK(load.unwritten(0, 0) == 100);                               // ...not yet written
    CHECK(load.unwritten(1, 1) == 100);
    CHECK(load.unwritten(1, 2) == 0);
    CHECK(load.choose(all_up, on_the_way) == 1);
    CHECK(load.choose(all_up, on_the_way) == 2);                      // equal: the fast lanes take turns
    CHECK(load.choose(all_up, on_the_way) == 1);
    CHECK(load.choose(all_up) == 0);                                  // by unacknowledged bytes alone
}
