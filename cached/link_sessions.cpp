// Link session table: resume, takeover by a newer connection, expiry after the resume budget.
#include "link_sessions.hpp"

#include "cache_metrics.hpp"
#include "util/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace imgx::cached {

namespace asio = boost::asio;

CacheSession::CacheSession(const asio::any_io_executor& ex, store::ImageStore& store, std::uint64_t session_id)
    : id(session_id), flow(ex), receiver(store, [this](link::FrameType type, const google::protobuf::MessageLite& m) {
          flow.send(link::encode_message(type, m));
      }) {}

LinkSessions::LinkSessions(const asio::any_io_executor& ex, store::ImageStore& store, std::chrono::seconds resume)
    : ex_(ex), store_(store), resume_(resume) {}

LinkSessions::Opened LinkSessions::open(const link::Hello& hello, const std::string& peer) {
    if (hello.abandoned_session() != 0 && sessions_.contains(hello.abandoned_session()))
        end(hello.abandoned_session(), "img-proxyd gave up resuming the link (its retry budget ran out)");
    auto it = sessions_.find(hello.session());
    if (it != sessions_.end() && hello.resume()) {
        auto session = it->second;
        if (session->attached && session->close_connection) {
            log_warn({.peer = peer}, "link session {:016x}: a new connection from {} takes over from the one still open",
                     session->id, peer);
            session->close_connection();
        }
        ++session->connection;
        session->attached = true;
        session->receiver.set_peer(peer);
        ++cache_metrics().link_resumes;
        return {session, true};
    }
    if (it != sessions_.end()) end(it->first, "img-proxyd began a new session under the same id");
    if (hello.resume())
        log_error({.peer = peer},
                  "img-proxyd on {} asks to resume link session {:016x}, which this img-cached does not hold (it "
                  "restarted, or the session expired after link_resume_seconds); the proxy fails its unfinished dumps",
                  peer, hello.session());
    auto session = std::make_shared<CacheSession>(ex_, store_, hello.session());
    session->connection = 1;
    session->attached = true;
    session->receiver.set_peer(peer);
    sessions_[session->id] = session;
    return {session, false};
}

void LinkSessions::connection_ended(const std::shared_ptr<CacheSession>& session, std::uint64_t connection,
                                    const std::string& why, bool resumable) {
    if (session->connection != connection) return;  // a newer connection owns it
    session->attached = false;
    session->close_connection = nullptr;
    if (!sessions_.contains(session->id)) return;
    if (resume_.count() == 0 || !resumable) {
        end(session->id, why);
        return;
    }
    const std::string peer = session->receiver.peer();
    if (session->receiver.unfinished() > 0)
        log_warn({.peer = peer}, "link from img-proxyd {} lost ({}); its {} unfinished snapshots wait {} s for it to resume",
                 peer, why, session->receiver.unfinished(), resume_.count());
    const auto budget = resume_;
    asio::co_spawn(ex_, [this, session, connection, budget, why]() -> asio::awaitable<void> {
        asio::steady_timer timer(co_await asio::this_coro::executor, budget);
        co_await timer.async_wait(asio::use_awaitable);
        if (session->connection != connection || session->attached) co_return;  // resumed meanwhile
        auto it = sessions_.find(session->id);
        if (it == sessions_.end() || it->second != session) co_return;
        end(session->id, why + "; img-proxyd did not resume within " + std::to_string(budget.count()) +
                             " s (link_resume_seconds)");
    }, asio::detached);
}

void LinkSessions::end(std::uint64_t id, const std::string& why) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    auto session = it->second;
    sessions_.erase(it);
    // A connection still attached stops first: its loops see they no longer own the session, and
    // once its socket is closed nothing reads into or writes from the state dropped below.
    ++session->connection;
    if (session->attached && session->close_connection) session->close_connection();
    session->attached = false;
    session->close_connection = nullptr;
    session->receiver.fail_unfinished(why);
    session->flow.clear();
}

}  // namespace imgx::cached
