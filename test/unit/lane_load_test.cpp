// Multi-lane link sessions: the lane with the fewest unacknowledged bytes carries the next chunk.
#include "link/lane_load.hpp"

#include <catch2/catch.hpp>

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

TEST_CASE("bytes on their way decide before unacknowledged bytes") {
    // The peer holds back the ACKs of fast lanes' chunks that wait for a chunk still on the slow
    // lane, so unacknowledged bytes look alike on every lane; what is still on its way does not.
    LaneLoad load(3);
    const auto now = LaneLoad::Clock::now();
    load.queued(0, 1, 100);  // lane 0: its chunk is not written yet
    load.queued(1, 1, 100);
    load.queued(1, 2, 100);
    load.queued(2, 1, 100);
    load.queued(2, 2, 100);
    CHECK(load.unwritten(0, 0) == 100);
    CHECK(load.unwritten(1, 1) == 100);
    CHECK(load.unwritten(1, 2) == 0);
    load.observe(0, 0, 500, 0, now);  // and 500 bytes of it wait in the kernel
    load.observe(1, 2, 0, 200, now);
    load.observe(2, 2, 0, 200, now);
    CHECK(load.on_the_way(0) == 600);
    CHECK(load.choose(all_up, 100) == 1);
    CHECK(load.choose(all_up, 100) == 2);  // equal: the fast lanes take turns
    CHECK(load.choose(all_up, 100) == 1);
}

TEST_CASE(
    "a lane seen delivering slowly gets no chunk while a faster one would deliver it sooner, and "
    "is tried "
    "again once it has been idle a while") {
    using namespace std::chrono_literals;
    LaneLoad load(2);
    auto t = LaneLoad::Clock::now();
    // Both lanes start with 1000 bytes in their kernel queue, none delivered.
    load.observe(0, 0, 1000, 0, t);
    load.observe(1, 0, 1000, 0, t);
    CHECK(load.rate(0) == 0);  // not measured yet
    // 100 ms on, lane 0 delivered 100 bytes and lane 1 900: 1000 and 9000 bytes/s.
    t += 100ms;
    load.observe(0, 0, 900, 100, t);
    load.observe(1, 0, 100, 900, t);
    CHECK(load.rate(0) == Approx(1000));
    CHECK(load.rate(1) == Approx(9000));
    // A chunk of 1000 bytes would arrive after (900 + 1000) / 1000 = 1.9 s on lane 0 and after
    // (100 + 1000) / 9000 = 0.12 s on lane 1, which takes it, and still does when it holds more
    // bytes than lane 0: (5100 + 1000) / 9000 = 0.68 s.
    CHECK(load.choose(all_up, 1000) == 1);
    load.observe(1, 0, 5100, 900, t);
    CHECK(load.on_the_way(1) > load.on_the_way(0));
    CHECK(load.choose(all_up, 1000) == 1);
    // With 17000 bytes on its way, lane 1 needs (17000 + 1000) / 9000 = 2 s: lane 0 is sooner.
    load.observe(1, 0, 17000, 900, t);
    CHECK(load.choose(all_up, 1000) == 0);
    // Both drain. Lane 0 (idle, still known as slow) would need 1 s for the next chunk, lane 1
    // 0.12 s: lane 1 takes it.
    t += 10ms;
    load.observe(0, 0, 0, 1000, t);
    load.observe(1, 0, 100, 17800, t);
    CHECK(load.rate(0) > 0);
    CHECK(load.choose(all_up, 1000) == 1);
    // After kLaneRateMemory idle, lane 0 counts as fast as the fastest known lane again, and
    // with nothing on its way it gets the next chunk: it is tried again.
    t += kLaneRateMemory;
    load.observe(0, 0, 0, 1000, t);
    load.observe(1, 0, 100, 17800, t);
    CHECK(load.rate(0) == 0);
    CHECK(load.choose(all_up, 1000) == 0);
}

TEST_CASE(
    "a lane that delivers nothing while it has bytes waiting counts as very slow, not as unknown") {
    using namespace std::chrono_literals;
    LaneLoad load(2);
    auto t = LaneLoad::Clock::now();
    load.observe(0, 0, 1000, 0, t);
    t += 50ms;
    load.observe(0, 0, 1000, 0, t);  // stuck
    CHECK(load.rate(0) > 0);
    CHECK(load.rate(0) <= 1);
    load.observe(1, 0, 0, 0, t);
    CHECK(load.choose(all_up, 1000) == 1);
    // A new connection starts its measurement afresh: its first observation measures nothing.
    load.new_connection(0);
    t += 50ms;
    load.observe(0, 0, 1000, 0, t);
    CHECK(load.rate(0) <= 1);
    CHECK(load.on_the_way(0) == 1000);
}
