// Link connection: handshake (new or resumed session), reader, writer and stall detection.
#include "link_session.hpp"

#include "cache_metrics.hpp"
#include "link.pb.h"
#include "link/link_codec.hpp"
#include "util/log.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <unistd.h>

namespace imgx::cached {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {

// Used when a proxy's HELLO names no idle timeout.
constexpr std::chrono::seconds kDefaultIdleTimeout{15};
constexpr std::chrono::seconds kHandshakeTimeout{10};

std::string host_name() {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    return name;
}

asio::awaitable<link::FrameHeader> read_header(link::LinkStream& socket) {
    link::HeaderBytes bytes;
    co_await asio::async_read(socket, asio::buffer(bytes), asio::use_awaitable);
    co_return link::decode_header(bytes);
}

asio::awaitable<std::string> read_body(link::LinkStream& socket, const link::FrameHeader& header) {
    std::string body(header.body_length, '\0');
    co_await asio::async_read(socket, asio::buffer(body), asio::use_awaitable);
    co_return body;
}

asio::awaitable<link::Hello> read_hello(link::LinkStream& socket) {
    std::array<char, 8> preamble;
    co_await asio::async_read(socket, asio::buffer(preamble), asio::use_awaitable);
    link::check_preamble(preamble);
    auto header = co_await read_header(socket);
    if (header.type != link::FrameType::hello) throw wire::ProtocolError("first frame is not HELLO");
    link::Hello hello;
    wire::decode_body(co_await read_body(socket, header), hello, "HELLO");
    if (hello.session() == 0) throw wire::ProtocolError("HELLO names no link session");
    co_return hello;
}

// The reading half of one connection of a session: lane `lane` of it.
class Connection {
public:
    Connection(link::LinkStream& socket, std::shared_ptr<CacheSession> session, std::uint32_t lane,
               std::chrono::milliseconds idle)
        : socket_(socket),
          session_(std::move(session)),
          lane_(lane),
          number_(session_->lane(lane).connection),
          liveness_(idle, std::chrono::steady_clock::now()) {}

    // Ends by throwing the first failure of its loops.
    asio::awaitable<void> run() {
        auto current = [this] { return session_->lane(lane_).connection == number_; };
        auto& flow = session_->lane(lane_).flow;
        try {
            co_await (guarded(read_loop()) &&
                      guarded(flow.write_loop(socket_, liveness_, current, [](const std::string&, bool) {})) &&
                      guarded(flow.tick_loop(liveness_, current)));
        } catch (...) {
            if (!first_failure_) first_failure_ = std::current_exception();
        }
        std::rethrow_exception(first_failure_);
    }

private:
    // The loop that fails first says why; the others only see their cancellation.
    asio::awaitable<void> guarded(asio::awaitable<void> loop) {
        try {
            co_await std::move(loop);
        } catch (...) {
            if (!first_failure_) first_failure_ = std::current_exception();
            throw;
        }
    }

    void check_current() const {
        if (session_->lane(lane_).connection != number_) throw link::LinkStalled("a newer connection took the session over");
    }

    asio::awaitable<void> read_loop() {
        auto& flow = session_->lane(lane_).flow;
        std::vector<char> chunk;
        for (;;) {
            auto header = co_await read_header(socket_);
            check_current();
            liveness_.heard(std::chrono::steady_clock::now());
            const std::uint64_t bytes = link::kHeaderBytes + header.body_length;
            if (header.type == link::FrameType::data_at) {
                std::array<unsigned char, link::kDataAtPrefixBytes> prefix_bytes;
                co_await asio::async_read(socket_, asio::buffer(prefix_bytes), asio::use_awaitable);
                check_current();
                const auto at = link::decode_data_at_prefix(prefix_bytes);
                chunk.resize(header.body_length - link::kDataAtPrefixBytes);
                co_await asio::async_read(socket_, asio::buffer(chunk), asio::use_awaitable);
                check_current();
                liveness_.heard(std::chrono::steady_clock::now());
                // A chunk that came ahead of its file's next byte is acknowledged once it is part
                // of the file, so the proxy keeps its buffer meanwhile (that bounds what waits here).
                const std::uint64_t frame = flow.counter().through() + 1;
                const bool held = session_->receiver.data_at_arrived(at.file_tag, at.offset, chunk, lane_, frame);
                flow.received(bytes, held);
                if (held) chunk = std::vector<char>();
                continue;
            }
            if (header.type == link::FrameType::data && session_->lanes.size() > 1)
                throw wire::ProtocolError(fmt::format("DATA frame on a link session of {} lanes (DATA_AT expected)",
                                                      session_->lanes.size()));
            if (header.type == link::FrameType::data) {
                std::array<unsigned char, link::kDataTagBytes> tag_bytes;
                co_await asio::async_read(socket_, asio::buffer(tag_bytes), asio::use_awaitable);
                check_current();
                const std::size_t size = header.body_length - link::kDataTagBytes;
                char* into = session_->receiver.data_target(link::decode_data_tag(tag_bytes), size);
                co_await asio::async_read(socket_, asio::buffer(into, size), asio::use_awaitable);
                check_current();
                liveness_.heard(std::chrono::steady_clock::now());
                session_->receiver.data_arrived();
                flow.received(bytes);
                continue;
            }
            auto body = co_await read_body(socket_, header);
            check_current();
            if (header.type == link::FrameType::ack) {
                if (flow.acknowledged(body)) liveness_.acknowledged(std::chrono::steady_clock::now());
                continue;
            }
            if (lane_ > 0)
                throw wire::ProtocolError(fmt::format("{} frame on lane {} (only lane 0 carries messages)",
                                                      link::frame_type_name(header.type), lane_));
            session_->receiver.on_message(header.type, body);
            flow.received(bytes);
        }
    }

    link::LinkStream& socket_;
    std::shared_ptr<CacheSession> session_;
    std::uint32_t lane_;
    std::uint64_t number_;
    link::LinkLiveness liveness_;
    std::exception_ptr first_failure_;
};

}  // namespace

asio::awaitable<void> run_link_session(link::LinkStream stream, LinkSessions& sessions) {
    auto& socket = stream;
    boost::system::error_code ec;
    auto remote = stream.tcp().remote_endpoint(ec);
    std::string peer = "unknown peer";
    if (!ec) peer = fmt::format("{}:{}", remote.address().to_string(), remote.port());
    stream.tcp().set_option(tcp::no_delay(true), ec);
    stream.tcp().set_option(asio::socket_base::keep_alive(true), ec);
    ++cache_metrics().link_sessions;
    const metrics::GaugeGuard open(cache_metrics().link_sessions_open);
    // A peer that connects and says nothing must not hold the connection: past the timeout the
    // socket is closed, which ends the handshake with an error.
    auto handshake_state = std::make_shared<int>(0);  // 0 running, 1 done, 2 timed out
    asio::steady_timer handshake_timer(stream.get_executor(), kHandshakeTimeout);
    handshake_timer.async_wait([handshake_state, &stream](boost::system::error_code timer_error) {
        if (timer_error || *handshake_state != 0) return;
        *handshake_state = 2;
        stream.close();
    });
    std::shared_ptr<CacheSession> session;
    std::uint32_t lane = 0;
    std::uint64_t connection = 0;
    std::string why;
    bool resumable = true;
    try {
        co_await stream.handshake(peer);
        if (stream.encrypted()) log_info({.peer = peer}, "TLS link from {}: certificate identity {}", peer, stream.identity());
        const auto hello = co_await read_hello(socket);
        auto opened = sessions.open(hello, peer);
        session = opened.session;
        lane = opened.lane;
        auto& slot = session->lane(lane);
        connection = slot.connection;
        slot.close_connection = [&stream] { stream.close(); };
        link::Hello answer;
        answer.set_version(link::kVersion);
        answer.set_node(host_name());
        answer.set_session(session->id);
        answer.set_resume(opened.resumed);
        answer.set_received_through(slot.flow.counter().take_all());
        answer.set_streams(static_cast<std::uint32_t>(session->lanes.size()));
        answer.set_lane(lane);
        // What the proxy already holds of ours is not written again.
        if (opened.resumed) slot.flow.window().resume_from(hello.received_through());
        std::string out(link::kPreamble.begin(), link::kPreamble.end());
        out += link::encode_message(link::FrameType::hello, answer);
        co_await asio::async_write(socket, asio::buffer(out), asio::use_awaitable);
        *handshake_state = 1;
        handshake_timer.cancel();
        if (lane > 0)
            log_info({.peer = peer}, "img-proxyd on {} ({}) joined link session {:016x} as lane {} after frame {}", peer,
                     hello.node(), session->id, lane, answer.received_through());
        else if (opened.resumed)
            log_info({.peer = peer}, "img-proxyd on {} ({}) resumed link session {:016x} after frame {}", peer,
                     hello.node(), session->id, answer.received_through());
        else
            log_info({.peer = peer}, "img-proxyd on {} ({}) connected", peer, hello.node());
        std::chrono::milliseconds idle = kDefaultIdleTimeout;
        if (hello.idle_timeout_ms() > 0) idle = std::chrono::milliseconds(hello.idle_timeout_ms());
        Connection conn(socket, session, lane, idle);
        co_await conn.run();
    } catch (const link::LinkTlsError& e) {
        // Refused before anything was received: nothing to fail, no session to end.
        *handshake_state = 1;
        log_error({.peer = peer}, "link from {} refused: {}", peer, e.what());
        co_return;
    } catch (const LaneRefused& e) {
        *handshake_state = 1;
        log_warn({.peer = peer}, "link from {} refused: {}", peer, e.what());
        co_return;
    } catch (const boost::system::system_error& e) {
        why = link::explain_link_error(e.code());
        if (e.code() == asio::error::eof) why = "connection closed";
        if (*handshake_state == 2) {
            why = fmt::format("no TLS handshake and HELLO within {} s", kHandshakeTimeout.count());
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
    *handshake_state = 1;  // the timer's handler, if already queued, must not touch the stream
    if (session) sessions.connection_ended(session, lane, connection, why, resumable);
    log_info({.peer = peer}, "img-proxyd on {} disconnected ({})", peer, why);
}

}  // namespace imgx::cached
