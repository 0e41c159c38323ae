// The link's resume logic: frame numbering, cumulative acknowledgement, resending after a new
// connection, when acknowledgements go out, stall detection and reconnection backoff.
#include "link/resume_window.hpp"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

using namespace imgx;
using namespace imgx::link;
using namespace std::chrono_literals;

namespace {

// One completed write of the next `count` frames.
template <typename Frame>
void write(SendWindow<Frame>& window, std::size_t count) {
    window.begin_write(count);
    window.end_write();
}

// Writes every unwritten frame, as a writer loop does; returns them.
std::vector<std::string> write_all(SendWindow<std::string>& window) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < window.unwritten(); ++i) out.push_back(window.unwritten_at(i));
    write(window, out.size());
    return out;
}

}  // namespace

TEST_CASE("frames are numbered from 1 in the order queued") {
    SendWindow<std::string> window;
    CHECK(window.push("a") == 1);
    CHECK(window.push("b") == 2);
    write(window, 2);
    window.acknowledge(2);
    CHECK(window.push("c") == 3);
    CHECK(window.queued() == 3);
}

TEST_CASE("an acknowledgement releases every frame through its number and no other") {
    SendWindow<std::string> window;
    for (auto f : {"a", "b", "c", "d"}) window.push(f);
    write_all(window);
    CHECK(window.outstanding());
    window.acknowledge(3);
    CHECK(window.held() == 1);
    CHECK(window.acknowledged() == 3);
    window.acknowledge(3);  // repeated (a heartbeat): nothing changes
    CHECK(window.held() == 1);
    window.acknowledge(4);
    CHECK(window.held() == 0);
    CHECK_FALSE(window.outstanding());
}

TEST_CASE("a frame stays held until acknowledged, so a pooled buffer goes back only then") {
    SendWindow<std::shared_ptr<int>> window;
    auto buffer = std::make_shared<int>(7);
    std::weak_ptr<int> watch = buffer;
    window.push(std::move(buffer));
    write(window, 1);
    CHECK_FALSE(watch.expired());  // written is not enough
    window.acknowledge(1);
    CHECK(watch.expired());
}

TEST_CASE(
    "an acknowledgement going backwards or naming a frame never written is a protocol error") {
    SendWindow<std::string> window;
    for (auto f : {"a", "b", "c"}) window.push(f);
    write(window, 2);
    CHECK_THROWS_AS(window.acknowledge(3), wire::ProtocolError);  // queued but not written
    window.acknowledge(2);
    CHECK_THROWS_AS(window.acknowledge(1), wire::ProtocolError);
}

TEST_CASE("after a new connection every frame the peer lacks is written again, in order, once") {
    SendWindow<std::string> window;
    for (auto f : {"a", "b", "c", "d", "e"}) window.push(f);
    CHECK(write_all(window).size() == 5);
    window.acknowledge(1);
    // The connection drops; the peer had handled frames through 3 (its last ACK said 1).
    window.resume_from(3);
    CHECK(write_all(window) == std::vector<std::string>{"d", "e"});
    window.push("f");
    CHECK(write_all(window) == std::vector<std::string>{"f"});
}

TEST_CASE("a peer that resumes from a frame it was never sent is a protocol error") {
    SendWindow<std::string> window;
    window.push("a");
    window.push("b");
    write(window, 1);
    CHECK_THROWS_AS(window.resume_from(2), wire::ProtocolError);
}

TEST_CASE(
    "an acknowledgement may cover a write still in progress; its frames stay until the write "
    "completes") {
    SendWindow<std::shared_ptr<int>> window;
    auto buffer = std::make_shared<int>(7);
    std::weak_ptr<int> watch = buffer;
    window.push(std::move(buffer));
    window.push(std::make_shared<int>(8));
    window.begin_write(2);
    CHECK(window.outstanding());  // a stalled first write must count as outstanding
    window.acknowledge(1);        // the peer read frame 1 while frame 2 was still on its way
    CHECK_FALSE(watch.expired());
    CHECK(*window.writing_at(0) == 7);
    window.end_write();
    CHECK(watch.expired());
    CHECK(window.held() == 1);
    CHECK_THROWS_AS(window.acknowledge(3), wire::ProtocolError);
}

TEST_CASE("a write cut off halfway is resumed from what the peer says it holds") {
    SendWindow<std::string> window;
    for (auto f : {"a", "b", "c", "d"}) window.push(f);
    window.begin_write(4);
    // The connection breaks during the write; the peer had read a, b and c.
    window.resume_from(3);
    CHECK(window.unwritten() == 1);
    CHECK(write_all(window) == std::vector<std::string>{"d"});
}

TEST_CASE("frames queued while disconnected are written after the resent ones") {
    SendWindow<std::string> window;
    window.push("a");
    window.push("b");
    write(window, 2);
    window.push("c");  // the connection is down
    window.resume_from(1);
    CHECK(write_all(window) == std::vector<std::string>{"b", "c"});
}

TEST_CASE("clearing a window restarts numbering at 1") {
    SendWindow<std::string> window;
    window.push("a");
    write(window, 1);
    window.clear();
    CHECK(window.held() == 0);
    CHECK(window.push("b") == 1);
}

TEST_CASE(
    "a receiver acknowledges after 64 frames or 1 MiB, and reports pending frames otherwise") {
    ReceiveCounter counter;
    CHECK_FALSE(counter.ack_pending());
    for (std::uint64_t i = 1; i < kAckEveryFrames; ++i) counter.received(20);
    CHECK(counter.ack_pending());
    CHECK_FALSE(counter.ack_due());
    counter.received(20);
    CHECK(counter.ack_due());
    CHECK(counter.take_ack() == kAckEveryFrames);
    CHECK_FALSE(counter.ack_pending());

    counter.received(kAckEveryBytes);
    CHECK(counter.ack_due());
    CHECK(counter.take_ack() == kAckEveryFrames + 1);
    CHECK(counter.through() == kAckEveryFrames + 1);
}

TEST_CASE("a held frame stops acknowledgements just before it until released; a HELLO reports it") {
    ReceiveCounter counter;
    counter.received(100);  // 1
    counter.received(100);  // 2: held (a chunk ahead of its file's next byte)
    counter.hold(2);
    counter.received(100);  // 3
    CHECK(counter.ackable() == 1);
    CHECK(counter.ack_pending());
    CHECK(counter.take_ack() == 1);
    CHECK_FALSE(counter.ack_pending());
    for (int i = 0; i < 100; ++i) counter.received(kAckEveryBytes);
    CHECK_FALSE(counter.ack_due());  // nothing more may be acknowledged: no ACK storm
    counter.release(2);
    CHECK(counter.ack_due());
    CHECK(counter.take_ack() == counter.through());

    counter.received(10);
    counter.hold(counter.through());
    const auto all = counter.through();
    CHECK(counter.take_all() == all);
    CHECK(counter.take_ack() == all);  // never back behind what a HELLO reported
}

TEST_CASE("a link is stalled when nothing is heard for the idle timeout") {
    const auto t0 = LinkLiveness::Clock::time_point{} + 1h;
    LinkLiveness liveness(15s, t0);
    CHECK_FALSE(liveness.check(t0 + 14s, false));
    liveness.heard(t0 + 10s);
    CHECK_FALSE(liveness.check(t0 + 20s, false));
    auto why = liveness.check(t0 + 25s, false);
    REQUIRE(why);
    CHECK(why->find("nothing heard") != std::string::npos);
}

TEST_CASE(
    "a link is stalled when outstanding frames see no acknowledgement progress for the idle "
    "timeout") {
    const auto t0 = LinkLiveness::Clock::time_point{} + 1h;
    LinkLiveness liveness(15s, t0);
    // Heartbeats keep arriving, but the acknowledgement does not move.
    for (int s = 0; s <= 30; ++s) liveness.heard(t0 + std::chrono::seconds(s));
    CHECK_FALSE(liveness.check(t0 + 10s, true));  // outstanding from here
    liveness.acknowledged(t0 + 20s);              // progress resets the wait
    CHECK_FALSE(liveness.check(t0 + 30s, true));
    CHECK(liveness.check(t0 + 35s, true));
}

TEST_CASE("a long idle period with nothing outstanding does not count against the next wait") {
    const auto t0 = LinkLiveness::Clock::time_point{} + 1h;
    LinkLiveness liveness(15s, t0);
    liveness.heard(t0 + 100s);
    CHECK_FALSE(liveness.check(t0 + 100s, false));
    CHECK_FALSE(liveness.check(t0 + 101s, true));  // the wait starts now, not at t0
    liveness.heard(t0 + 110s);
    CHECK_FALSE(liveness.check(t0 + 115s, true));
}

TEST_CASE("a heartbeat is due after a third of the idle timeout without sending") {
    const auto t0 = LinkLiveness::Clock::time_point{} + 1h;
    LinkLiveness liveness(15s, t0);
    CHECK_FALSE(liveness.heartbeat_due(t0 + 4s));
    CHECK(liveness.heartbeat_due(t0 + 5s));
    liveness.sent(t0 + 5s);
    CHECK_FALSE(liveness.heartbeat_due(t0 + 9s));
}

TEST_CASE(
    "reconnection backoff doubles from its first wait up to its cap, and restarts after a reset") {
    Backoff backoff(100ms, 500ms);
    CHECK(backoff.next() == 100ms);
    CHECK(backoff.next() == 200ms);
    CHECK(backoff.next() == 400ms);
    CHECK(backoff.next() == 500ms);
    CHECK(backoff.next() == 500ms);
    backoff.reset();
    CHECK(backoff.next() == 100ms);
}

TEST_CASE(
    "frames the peer reports received but holds back are outstanding, yet not unheard (no stall)") {
    SendWindow<std::string> window;
    for (auto f : {"a", "b", "c"}) window.push(f);
    write_all(window);
    CHECK(window.unheard(0));  // a peer that does not report what it heard: acknowledgements count
    window.acknowledge(1);
    CHECK(window.unheard(2));
    CHECK_FALSE(window.unheard(3));  // b and c wait on the peer for another lane's bytes
    CHECK(window.outstanding());     // and keep their buffers
    CHECK(window.held() == 2);
}
