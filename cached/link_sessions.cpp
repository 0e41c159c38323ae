// Link session table: resume, takeover by a newer connection, expiry after the resume budget.
#include "link_sessions.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "cache_metrics.hpp"
#include "util/log.hpp"

namespace imgx::cached {

namespace asio = boost::asio;

CacheSession::CacheSession(const asio::any_io_executor& ex, store::ImageStore& store,
                           std::uint64_t session_id, std::uint32_t lane_count)
    : id(session_id),
      receiver(
          store,
          [this](link::FrameType type, const google::protobuf::MessageLite& m) {
              lane(0).flow.send(link::encode_message(type, m));
          },
          [this](std::uint32_t n, std::uint64_t frame) { lane(n).flow.release(frame); }) {
    for (std::uint32_t i = 0; i < lane_count; ++i) lanes.push_back(std::make_unique<CacheLane>(ex));
    receiver.set_lanes(lane_count);
}

void CacheSession::end(const std::string& why) {
    for (auto& lane : lanes) {
        ++lane->connection;
        if (lane->attached && lane->close_connection) lane->close_connection();
        lane->attached = false;
        lane->close_connection = nullptr;
    }
    receiver.fail_unfinished(why);
    for (auto& lane : lanes) lane->flow.clear();
}

LinkSessions::LinkSessions(const asio::any_io_executor& ex, store::ImageStore& store,
                           std::chrono::seconds resume)
    : ex_(ex), store_(store), resume_(resume) {}

LinkSessions::Opened LinkSessions::open(const link::Hello& hello, const std::string& peer) {
    if (hello.lane() > 0) return open_lane(hello, peer);
    if (hello.abandoned_session() != 0 && sessions_.contains(hello.abandoned_session()))
        end(hello.abandoned_session(),
            "img-proxyd gave up resuming the link (its retry budget ran out)");
    auto it = sessions_.find(hello.session());
    if (it != sessions_.end() && hello.resume()) {
        auto session = it->second;
        attach(*session, 0, peer);
        session->receiver.set_peer(peer);
        ++cache_metrics().link_resumes;
        return {session, 0, true};
    }
    if (it != sessions_.end()) end(it->first, "img-proxyd began a new session under the same id");
    if (hello.resume())
        log_error({.peer = peer},
                  "img-proxyd on {} asks to resume link session {:016x}, which this img-cached "
                  "does not hold (it "
                  "restarted, or the session expired after link_resume_seconds); the proxy fails "
                  "its unfinished dumps",
                  peer, hello.session());
    const std::uint32_t lanes = std::clamp<std::uint32_t>(hello.streams(), 1, link::kMaxLanes);
    auto session = std::make_shared<CacheSession>(ex_, store_, hello.session(), lanes);
    session->lane(0).connection = 1;
    session->lane(0).attached = true;
    session->receiver.set_peer(peer);
    sessions_[session->id] = session;
    if (lanes > 1)
        log_info({.peer = peer}, "link session {:016x} from {} uses {} lanes", session->id, peer,
                 lanes);
    return {session, 0, false};
}

LinkSessions::Opened LinkSessions::open_lane(const link::Hello& hello, const std::string& peer) {
    auto it = sessions_.find(hello.session());
    if (it == sessions_.end())
        throw LaneRefused(
            fmt::format("lane {} names link session {:016x}, which this img-cached does not hold",
                        hello.lane(), hello.session()));
    auto session = it->second;
    if (hello.lane() >= session->lanes.size())
        throw LaneRefused(fmt::format("lane {} of link session {:016x}, which uses {} lanes",
                                      hello.lane(), hello.session(), session->lanes.size()));
    attach(*session, hello.lane(), peer);
    return {session, hello.lane(), true};
}

void LinkSessions::attach(CacheSession& session, std::uint32_t n, const std::string& peer) {
    auto& lane = session.lane(n);
    if (lane.attached && lane.close_connection) {
        log_warn({.peer = peer},
                 "link session {:016x} lane {}: a new connection from {} takes over from the one "
                 "still open",
                 session.id, n, peer);
        lane.close_connection();
    }
    ++lane.connection;
    lane.attached = true;
}

void LinkSessions::connection_ended(const std::shared_ptr<CacheSession>& session, std::uint32_t n,
                                    std::uint64_t connection, const std::string& peer,
                                    const std::string& why, bool resumable) {
    auto& lane = session->lane(n);
    if (lane.connection != connection) return;  // a newer connection owns it
    lane.attached = false;
    lane.close_connection = nullptr;
    if (!sessions_.contains(session->id)) return;
    if (resume_.count() == 0 || !resumable) {
        end(session->id, why);
        return;
    }
    // `peer` is this connection's own address: a lane above 0 comes from its own port.
    std::string what = "link";
    if (n > 0) what = fmt::format("link lane {}", n);
    if (session->receiver.unfinished() > 0)
        log_warn({.peer = peer},
                 "{} from img-proxyd {} lost ({}); its {} unfinished snapshots wait {} s for it "
                 "to resume",
                 what, peer, why, session->receiver.unfinished(), resume_.count());
    const auto budget = resume_;
    asio::co_spawn(
        ex_,
        [this, session, n, connection, budget, why]() -> asio::awaitable<void> {
            asio::steady_timer timer(co_await asio::this_coro::executor, budget);
            co_await timer.async_wait(asio::use_awaitable);
            auto& lane = session->lane(n);
            if (lane.connection != connection || lane.attached) co_return;  // resumed meanwhile
            auto it = sessions_.find(session->id);
            if (it == sessions_.end() || it->second != session) co_return;
            std::string where;
            if (n > 0) where = fmt::format(" (lane {})", n);
            end(session->id, why + where + "; img-proxyd did not resume within " +
                                 std::to_string(budget.count()) + " s (link_resume_seconds)");
        },
        asio::detached);
}

void LinkSessions::end(std::uint64_t id, const std::string& why) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    auto session = it->second;
    sessions_.erase(it);
    session->end(why);
}

}  // namespace imgx::cached
