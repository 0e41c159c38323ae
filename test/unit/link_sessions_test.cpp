// img-cached's link session table without sockets: new, resumed and replaced sessions, lanes,
// a takeover by a newer connection, and the end of a session when its resume budget runs out.
#include "cached/link_sessions.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "link.pb.h"

using namespace imgx;
using cached::LinkSessions;

namespace {

constexpr std::uint64_t kSession = 0x1234;

link::Hello hello(std::uint64_t session, bool resume, std::uint32_t lane = 0,
                  std::uint32_t streams = 1) {
    link::Hello h;
    h.set_session(session);
    h.set_resume(resume);
    h.set_lane(lane);
    h.set_streams(streams);
    return h;
}

// A snapshot begun on `session`'s receiver, as a SNAPSHOT_BEGIN frame does.
std::shared_ptr<store::Snapshot> begin_snapshot(cached::CacheSession& session,
                                                store::ImageStore& store, const std::string& id) {
    link::SnapshotBegin begin;
    begin.set_snapshot_tag(1);
    begin.set_snapshot_id(id);
    begin.set_protocol("stream");
    session.receiver.on_message(link::FrameType::snapshot_begin, begin.SerializeAsString());
    return store.find(id);
}

struct Table {
    boost::asio::io_context io;
    store::ImageStore store{io.get_executor()};
    LinkSessions sessions{io.get_executor(), store, std::chrono::seconds(0)};
};

}  // namespace

TEST_CASE("a new session, then a resume of it on lane 0, continues the same receiving state") {
    Table t;
    auto first = t.sessions.open(hello(kSession, false), "peer-a");
    CHECK_FALSE(first.resumed);
    auto snapshot = begin_snapshot(*first.session, t.store, "job1");
    REQUIRE(snapshot);
    t.sessions.set_resume(std::chrono::seconds(60));
    t.sessions.connection_ended(first.session, 0, first.session->lane(0).connection, "peer-a",
                                "cut", true);
    CHECK(snapshot->state() == store::SnapshotState::receiving);  // waits for the resume

    auto again = t.sessions.open(hello(kSession, true), "peer-b");
    CHECK(again.resumed);
    CHECK(again.session == first.session);
    CHECK(again.session->receiver.peer() == "peer-b");
    CHECK(again.session->receiver.unfinished() == 1);
    CHECK(t.sessions.size() == 1);
}

TEST_CASE(
    "a newer connection on a lane closes the one still attached; the old one's end is ignored") {
    Table t;
    auto opened = t.sessions.open(hello(kSession, false), "peer-a");
    auto& lane = opened.session->lane(0);
    int closed = 0;
    lane.close_connection = [&] { ++closed; };
    const auto old_connection = lane.connection;
    auto snapshot = begin_snapshot(*opened.session, t.store, "job1");

    auto takeover = t.sessions.open(hello(kSession, true), "peer-b");
    CHECK(takeover.session == opened.session);
    CHECK(closed == 1);
    CHECK(lane.connection == old_connection + 1);
    // The old connection's loop ends afterwards: with a resume budget of 0 that would end the
    // session, but the lane belongs to the newer connection.
    t.sessions.connection_ended(opened.session, 0, old_connection, "peer-a", "closed by takeover",
                                true);
    CHECK(t.sessions.size() == 1);
    CHECK(snapshot->state() == store::SnapshotState::receiving);
}

TEST_CASE("without a resume budget a lost connection ends its session and fails its dumps") {
    Table t;
    auto opened = t.sessions.open(hello(kSession, false), "peer-a");
    auto snapshot = begin_snapshot(*opened.session, t.store, "job1");
    t.sessions.connection_ended(opened.session, 0, opened.session->lane(0).connection, "peer-a",
                                "connection reset", true);
    CHECK(t.sessions.size() == 0);
    CHECK(snapshot->state() == store::SnapshotState::failed);
    CHECK(snapshot->error().find("connection reset") != std::string::npos);
}

TEST_CASE("a session whose proxy does not resume within the budget ends when the budget runs out") {
    Table t;
    t.sessions.set_resume(std::chrono::seconds(1));
    auto opened = t.sessions.open(hello(kSession, false), "peer-a");
    auto snapshot = begin_snapshot(*opened.session, t.store, "job1");
    t.sessions.connection_ended(opened.session, 0, opened.session->lane(0).connection, "peer-a",
                                "connection reset", true);
    CHECK(t.sessions.size() == 1);
    t.io.run_for(std::chrono::seconds(5));  // bounded: the budget's timer is the only work
    CHECK(t.sessions.size() == 0);
    CHECK(snapshot->state() == store::SnapshotState::failed);
    CHECK(snapshot->error().find("link_resume_seconds") != std::string::npos);
}

TEST_CASE("a resume that comes in time keeps the session past the budget's timer") {
    Table t;
    t.sessions.set_resume(std::chrono::seconds(1));
    auto opened = t.sessions.open(hello(kSession, false), "peer-a");
    auto snapshot = begin_snapshot(*opened.session, t.store, "job1");
    t.sessions.connection_ended(opened.session, 0, opened.session->lane(0).connection, "peer-a",
                                "cut", true);
    t.sessions.open(hello(kSession, true), "peer-a");
    t.io.run_for(std::chrono::seconds(5));  // bounded: the expired timer finds the lane resumed
    CHECK(t.sessions.size() == 1);
    CHECK(snapshot->state() == store::SnapshotState::receiving);
}

TEST_CASE("a non-resumable end fails the session at once, even with a budget") {
    Table t;
    t.sessions.set_resume(std::chrono::seconds(60));
    auto opened = t.sessions.open(hello(kSession, false), "peer-a");
    auto snapshot = begin_snapshot(*opened.session, t.store, "job1");
    t.sessions.connection_ended(opened.session, 0, opened.session->lane(0).connection, "peer-a",
                                "protocol error", false);
    CHECK(t.sessions.size() == 0);
    CHECK(snapshot->state() == store::SnapshotState::failed);
}

TEST_CASE("a new session under a held id, or naming an abandoned one, ends the old session") {
    Table t;
    auto old_session = t.sessions.open(hello(kSession, false), "peer-a");
    auto first = begin_snapshot(*old_session.session, t.store, "job1");
    auto fresh = t.sessions.open(hello(kSession, false), "peer-a");
    CHECK_FALSE(fresh.resumed);
    CHECK(fresh.session != old_session.session);
    CHECK(first->state() == store::SnapshotState::failed);
    CHECK(t.sessions.size() == 1);

    auto second = begin_snapshot(*fresh.session, t.store, "job2");
    auto h = hello(kSession + 1, false);
    h.set_abandoned_session(kSession);
    t.sessions.open(h, "peer-a");
    CHECK(second->state() == store::SnapshotState::failed);
    CHECK(second->error().find("gave up resuming") != std::string::npos);
    CHECK(t.sessions.size() == 1);
}

TEST_CASE("a resume of a session img-cached does not hold begins a new one") {
    Table t;
    auto opened = t.sessions.open(hello(kSession, true), "peer-a");
    CHECK_FALSE(opened.resumed);
    CHECK(t.sessions.size() == 1);
}

TEST_CASE("lanes: a lane joins only a held session and only within the lanes it accepted") {
    Table t;
    CHECK_THROWS_AS(t.sessions.open(hello(kSession, true, 1), "peer-a"), cached::LaneRefused);
    auto opened = t.sessions.open(hello(kSession, false, 0, 3), "peer-a");
    CHECK(opened.session->lanes.size() == 3);
    CHECK(opened.session->receiver.lanes() == 3);
    auto lane2 = t.sessions.open(hello(kSession, true, 2), "peer-a");
    CHECK(lane2.lane == 2);
    CHECK(lane2.session == opened.session);
    CHECK(opened.session->lane(2).attached);
    CHECK_THROWS_AS(t.sessions.open(hello(kSession, true, 3), "peer-a"), cached::LaneRefused);
    // More lanes than the link allows are cut to the limit.
    auto many = t.sessions.open(hello(kSession + 1, false, 0, 1000), "peer-a");
    CHECK(many.session->lanes.size() == link::kMaxLanes);
}
