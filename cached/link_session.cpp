// One connection from img-proxyd: bounded handshake, its lane's loops, and how its end counts.
#include "link_session.hpp"

#include <fmt/format.h>

#include <optional>

#include "cache_metrics.hpp"
#include "lane_reader.hpp"
#include "link/link_connection.hpp"
#include "link_handshake.hpp"
#include "util/log.hpp"

namespace imgx::cached {

namespace asio = boost::asio;

namespace {

// Runs lane `attached` until the connection ends; its first failure is rethrown.
asio::awaitable<void> run_lane(link::LinkStream& stream, const AttachedLane& attached) {
    link::LinkLiveness liveness(attached.idle, std::chrono::steady_clock::now());
    LaneReader reader(stream, attached.session, attached.lane, attached.connection, liveness);
    auto current = [&reader] { return reader.current(); };
    auto& flow = attached.session->lane(attached.lane).flow;
    const link::LinkEnd end = co_await link::run_connection(
        reader.run(), flow.write_loop(stream, liveness, current, [](const std::string&, bool) {}),
        flow.tick_loop(liveness, current));
    if (!end.failure)
        throw link::LinkStalled("connection closed");  // the loops end only by failing
    std::rethrow_exception(end.failure);
}

}  // namespace

asio::awaitable<void> run_link_session(link::LinkStream stream, LinkSessions& sessions) {
    const std::string peer = link::peer_name(stream);
    link::tune_socket(stream);
    ++cache_metrics().link_sessions;
    const metrics::GaugeGuard open(cache_metrics().link_sessions_open);
    std::optional<link::HandshakeDeadline> deadline(std::in_place, stream);
    AttachedLane attached;
    std::string why;
    bool resumable = true;
    try {
        co_await stream.handshake(peer);
        if (stream.encrypted())
            log_info({.peer = peer}, "TLS link from {}: certificate identity {}", peer,
                     stream.identity());
        co_await exchange_hello(stream, sessions, peer, attached);
        deadline.reset();
        co_await run_lane(stream, attached);
    } catch (const link::LinkTlsError& e) {
        // Refused before anything was received: nothing to fail, no session to end.
        log_error({.peer = peer}, "link from {} refused: {}", peer, e.what());
        co_return;
    } catch (const LaneRefused& e) {
        log_warn({.peer = peer}, "link from {} refused: {}", peer, e.what());
        co_return;
    } catch (const boost::system::system_error& e) {
        why = link::explain_link_error(e.code());
        if (e.code() == asio::error::eof) why = "connection closed";
        if (deadline && deadline->expired()) {
            why = fmt::format("no TLS handshake and HELLO within {} s",
                              link::kHandshakeTimeout.count());
            log_warn({.peer = peer}, "link from {}: {}; closed it", peer, why);
        }
    } catch (const link::LinkStalled& e) {
        why = e.what();
    } catch (const std::exception& e) {
        why = e.what();
        resumable = false;  // the same frames would only fail again
        ++cache_metrics().errors.protocol;
        log_error({.peer = peer}, "link from {}: {}; closing it", peer, why);
    }
    deadline.reset();  // its timer, if already queued, must not touch the stream
    if (attached.session)
        sessions.connection_ended(attached.session, attached.lane, attached.connection, peer, why,
                                  resumable);
    if (attached.lane > 0)
        log_info({.peer = peer}, "link lane {} from img-proxyd {} disconnected ({})", attached.lane,
                 peer, why);
    else
        log_info({.peer = peer}, "img-proxyd on {} disconnected ({})", peer, why);
}

}  // namespace imgx::cached
