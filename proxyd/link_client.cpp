// Link client, transport: the lanes' connections, their handshake, reading and writing frames.
#include "link_client.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "link.pb.h"
#include "link/link_connection.hpp"
#include "proxy_metrics.hpp"
#include "util/log.hpp"

namespace imgx::proxyd {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace {

constexpr auto kFirstBackoff = 100ms;
constexpr auto kMaxBackoff = 5s;
constexpr std::string_view kCacheClosed = "img-cached closed the connection";

asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration d) {
    asio::steady_timer timer(co_await asio::this_coro::executor, d);
    co_await timer.async_wait(asio::use_awaitable);
}

}  // namespace

void append_buffers(const LinkFrame& frame, std::vector<asio::const_buffer>& out) {
    if (!frame.message.empty()) {
        out.emplace_back(frame.message.data(), frame.message.size());
    } else {
        out.emplace_back(frame.data_header.data(), frame.header_size);
        out.emplace_back(frame.buffer.data(), frame.size);
    }
}

LinkClient::LinkClient(const asio::any_io_executor& ex, HostPort cache,
                       std::chrono::steady_clock::duration connect_wait, LinkResumeSettings resume,
                       std::shared_ptr<link::LinkTls> tls, std::size_t streams, WorkerPool* workers)
    : ex_(ex),
      cache_(std::move(cache)),
      connect_wait_(connect_wait),
      resume_(resume),
      tls_(std::move(tls)),
      session_id_(new_session_id()),
      flow_(ex),
      written_(ex),
      link_changed_(ex),
      sender_(ex, cache_.to_string(), *this, workers, [this] { return pressure(); }),
      streams_(std::clamp<std::size_t>(streams, 1, link::kMaxLanes)) {
    for (std::size_t n = 1; n < streams_; ++n) extra_.push_back(std::make_unique<Lane>(ex));
}

void LinkClient::start() {
    auto report = [](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            spdlog::critical("link loop ended: {}", ex.what());
        }
    };
    asio::co_spawn(ex_, run(), report);
    for (std::size_t n = 1; n < streams_; ++n) asio::co_spawn(ex_, run_lane(n), report);
}

void LinkClient::stop() {
    stopping_ = true;
    if (socket_) socket_->close();
    for (auto& lane : extra_)
        if (lane->socket) lane->socket->close();
    link_changed_.notify();
}

std::string LinkClient::describe() const {
    if (connected_) return "connected to " + cache_.to_string();
    std::string what = "connecting to ";
    if (lost_at_) what = "resuming the link to ";
    return what + cache_.to_string() + (last_error_.empty() ? "" : " (" + last_error_ + ")");
}

std::shared_ptr<link::LinkStream> LinkClient::new_socket() {
    if (tls_) return std::make_shared<link::LinkStream>(tcp::socket(ex_), tls_);
    return std::make_shared<link::LinkStream>(tcp::socket(ex_));
}

asio::awaitable<void> LinkClient::run() {
    link::Backoff backoff(kFirstBackoff, kMaxBackoff);
    bool reported = false;
    while (!stopping_) {
        socket_ = new_socket();
        auto socket = socket_;
        const std::string failure = co_await try_connect(*socket, 0, answer_);
        if (!failure.empty()) {
            last_error_ = failure;
            const std::string cache = cache_.to_string();
            if (!reported)
                log_warn({.peer = cache}, "cannot reach img-cached at {}: {}; retrying", cache,
                         last_error_);
            reported = true;
            if (stopping_) break;
            // Sleep no longer than the resume budget lasts, so a session fails when it runs out.
            auto wait = backoff.next();
            if (lost_at_) wait = std::min(wait, resume_time_left());
            co_await sleep_for(wait);
            resume_time_left();
            continue;
        }
        link::tune_socket(*socket);
        if (++connections_ > 1) ++proxy_metrics().link_reconnects;
        reported = false;
        last_error_.clear();
        std::string refused;
        try {
            session_begins(answer_);
        } catch (const std::exception& e) {
            refused = e.what();
        }
        if (!refused.empty()) {
            fail_session(
                "img-cached at " + cache_.to_string() + " answered the resume wrongly: " + refused,
                true);
            co_await sleep_for(backoff.next());
            continue;
        }
        backoff.reset();
        co_await serve(socket);
    }
    if (lost_at_) fail_session("img-proxyd stopped while resuming the link", true);
}

asio::awaitable<void> LinkClient::serve(std::shared_ptr<link::LinkStream> socket) {
    connected_ = true;
    const std::uint64_t session =
        generation();  // a lane that fails the session ends this connection
    link_changed_.notify();
    const std::string cache = cache_.to_string();
    if (socket->encrypted())
        log_info({.peer = cache}, "link to img-cached at {} is up (TLS, certificate of {})", cache,
                 socket->identity());
    else
        log_info({.peer = cache}, "link to img-cached at {} is up (plain TCP)", cache);
    link::LinkLiveness liveness(resume_.idle_timeout, std::chrono::steady_clock::now());
    auto current = [this, session] { return generation() == session; };
    load_.new_connection(0);
    auto on_written = [this](const LinkFrame& frame, bool resent) { count_written(frame, resent); };
    const link::LinkEnd end =
        co_await link::run_connection(read_loop(0, *socket, liveness, session),
                                      flow_.write_loop(*socket, liveness, current, on_written),
                                      flow_.tick_loop(liveness, current));
    connection_lost(end.describe(kCacheClosed), end.protocol_failure());
}

asio::awaitable<void> LinkClient::run_lane(std::size_t n) {
    link::Backoff backoff(kFirstBackoff, kMaxBackoff);
    Lane& lane = *extra_[n - 1];
    const std::string cache = cache_.to_string();
    while (!stopping_) {
        // A lane joins a session that img-cached accepted with at least n + 1 lanes.
        if (!session_known_ || n >= lanes_) {
            co_await link_changed_.wait();
            continue;
        }
        const std::uint64_t session = generation();
        lane.generation = session;
        auto socket = new_socket();
        lane.socket = socket;
        link::Hello answer;
        std::string failure = co_await try_connect(*socket, static_cast<std::uint32_t>(n), answer);
        if (stopping_) break;
        if (generation() != session) continue;  // the session ended meanwhile
        if (failure.empty()) {
            try {
                lane.flow.window().resume_from(answer.received_through());
            } catch (const std::exception& e) {
                failure = std::string("img-cached answered the lane's resume wrongly: ") + e.what();
            }
        }
        if (!failure.empty()) {
            socket->close();
            std::chrono::steady_clock::duration wait{};
            if (!lane_may_retry(n, failure, backoff, wait)) continue;
            co_await sleep_for(wait);
            continue;
        }
        link::tune_socket(*socket);
        load_.acknowledged(n, lane.flow.window().acknowledged());
        if (lane.lost_at) {
            ++proxy_metrics().link_resumes;
            log_info({.peer = cache},
                     "link lane {} to img-cached at {} resumed: going on from frame {}", n, cache,
                     answer.received_through() + 1);
        } else {
            spdlog::debug("link lane {} to img-cached at {} is up", n, cache);
        }
        backoff.reset();
        co_await serve_lane(n, socket, session);
    }
}

asio::awaitable<void> LinkClient::serve_lane(std::size_t n,
                                             std::shared_ptr<link::LinkStream> socket,
                                             std::uint64_t session) {
    Lane& lane = *extra_[n - 1];
    lane.joined = true;
    lane.connected = true;
    lane.lost_at.reset();
    written_.notify();
    link::LinkLiveness liveness(resume_.idle_timeout, std::chrono::steady_clock::now());
    auto current = [this, session, &lane, socket] {
        return generation() == session && lane.socket == socket && !stopping_;
    };
    load_.new_connection(n);
    auto on_written = [this](const LinkFrame& frame, bool resent) { count_written(frame, resent); };
    const link::LinkEnd end =
        co_await link::run_connection(read_loop(n, *socket, liveness, session),
                                      lane.flow.write_loop(*socket, liveness, current, on_written),
                                      lane.flow.tick_loop(liveness, current));
    lane.connected = false;
    socket->close();
    if (stopping_ || generation() != session) co_return;
    lane_lost(n, end.describe(kCacheClosed), end.protocol_failure());
}

asio::awaitable<std::string> LinkClient::try_connect(link::LinkStream& socket, std::uint32_t lane,
                                                     link::Hello& answer) {
    boost::system::error_code ec;
    tcp::resolver resolver(ex_);
    auto endpoints = co_await resolver.async_resolve(cache_.host, std::to_string(cache_.port),
                                                     asio::redirect_error(asio::use_awaitable, ec));
    if (!ec)
        co_await asio::async_connect(socket.tcp(), endpoints,
                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return ec.message();
    link::HandshakeDeadline deadline(socket);
    try {
        co_await handshake(socket, lane, answer);
    } catch (const boost::system::system_error& e) {
        if (deadline.expired()) co_return std::string("no answer to the link handshake");
        if (e.code() == asio::error::eof)
            co_return std::string("img-cached closed the connection during the handshake");
        co_return link::explain_link_error(e.code());
    } catch (const std::exception& e) {
        if (deadline.expired()) co_return std::string("no answer to the link handshake");
        co_return std::string(e.what());
    }
    co_return std::string();
}

asio::awaitable<void> LinkClient::handshake(link::LinkStream& socket, std::uint32_t lane,
                                            link::Hello& answer_out) {
    std::string peer = "img-cached at " + cache_.to_string();
    co_await socket.handshake(std::move(peer));
    link::Hello hello;
    hello.set_version(link::kVersion);
    hello.set_node(link::host_name());
    hello.set_session(session_id_);
    // A lane above 0 always continues the session (its own numbering may still be at 0).
    hello.set_resume(session_known_ || lane > 0);
    hello.set_received_through(flow_of(lane).counter().take_all());
    if (lane == 0 && streams_ > 1) hello.set_streams(static_cast<std::uint32_t>(streams_));
    hello.set_lane(lane);
    if (lane == 0) hello.set_codecs(sender_.outbox().offered_codecs());
    hello.set_idle_timeout_ms(static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(resume_.idle_timeout).count()));
    hello.set_abandoned_session(abandoned_session_);
    std::string out(link::kPreamble.begin(), link::kPreamble.end());
    out += link::encode_message(link::FrameType::hello, hello);
    co_await asio::async_write(socket, asio::buffer(out), asio::use_awaitable);

    const link::Hello answer = co_await link::read_hello(socket, "img-cached did not answer HELLO");
    if (answer.session() != session_id_)
        throw wire::ProtocolError("img-cached answered for another link session");
    answer_out = answer;
    spdlog::debug("img-cached at {} is {} (link version {})", cache_.to_string(), answer.node(),
                  answer.version());
}

asio::awaitable<void> LinkClient::read_loop(std::size_t n, link::LinkStream& socket,
                                            link::LinkLiveness& liveness, std::uint64_t session) {
    auto& flow = flow_of(n);
    std::string body;
    for (;;) {
        const auto header = co_await link::read_header(socket);
        body.resize(header.body_length);
        co_await asio::async_read(socket, asio::buffer(body), asio::use_awaitable);
        if (generation() != session) throw link::LinkStalled("the link session ended");
        const auto now = std::chrono::steady_clock::now();
        liveness.heard(now);
        if (header.type == link::FrameType::ack) {
            if (flow.acknowledged(body)) {
                load_.acknowledged(n, flow.window().acknowledged());
                liveness.acknowledged(now);
                written_.notify();
            }
            continue;
        }
        // img-cached's messages travel on lane 0; other lanes bring only ACKs.
        if (n > 0)
            throw wire::ProtocolError(fmt::format("img-cached sent a {} frame on lane {}",
                                                  link::frame_type_name(header.type), n));
        sender_.handle_answer(header.type, body);
        flow.received(link::kHeaderBytes + body.size());
    }
}

asio::awaitable<std::shared_ptr<OutgoingSnapshot>> LinkClient::begin_snapshot(
    const std::string& id, const std::string& protocol, const std::string& chain,
    const std::vector<std::string>& chain_ids, std::function<bool()> wanted) {
    const auto deadline = std::chrono::steady_clock::now() + connect_wait_;
    // Waiters wake in no set order: each waits for its turn too, so announcements keep call order.
    // No suspension follows the loop, so the turn is over once it ends. On its turn, a dump no
    // longer wanted (dropped: wake_announcements()) stops waiting for an absent link.
    const std::uint64_t turn = begin_calls_++;
    while (!stopping_ && std::chrono::steady_clock::now() < deadline) {
        if (begins_done_ == turn && (connected_ || (wanted && !wanted()))) break;
        asio::steady_timer timer(ex_, deadline);
        co_await (link_changed_.wait() || timer.async_wait(asio::use_awaitable));
    }
    ++begins_done_;
    link_changed_.notify();
    if (wanted && !wanted()) co_return nullptr;
    if (!connected_) {
        ++proxy_metrics().errors.unreachable;
        std::string why = last_error_;
        if (why.empty()) why = "no connection";
        co_return sender_.refuse_snapshot(
            id, protocol, "img-cached at " + cache_.to_string() + " is unreachable: " + why);
    }
    co_return sender_.begin_snapshot(id, protocol, chain, chain_ids);
}

std::uint64_t LinkClient::begin_file(const std::shared_ptr<OutgoingSnapshot>& snapshot,
                                     const std::string& name) {
    return sender_.begin_file(snapshot, name);
}

void LinkClient::send_data(const std::shared_ptr<OutgoingSnapshot>& snapshot,
                           std::uint64_t file_tag, PooledBuffer buffer, std::size_t size) {
    sender_.send_data(snapshot, file_tag, std::move(buffer), size);
}

void LinkClient::end_file(const std::shared_ptr<OutgoingSnapshot>& snapshot, std::uint64_t file_tag,
                          std::uint64_t size, std::uint64_t xxh3) {
    sender_.end_file(snapshot, file_tag, size, xxh3);
}

void LinkClient::end_snapshot(const std::shared_ptr<OutgoingSnapshot>& snapshot,
                              std::uint32_t files, std::uint64_t bytes) {
    sender_.end_snapshot(snapshot, files, bytes);
}

void LinkClient::abort_snapshot(const std::shared_ptr<OutgoingSnapshot>& snapshot,
                                const std::string& reason) {
    sender_.abort_snapshot(snapshot, reason);
}

void LinkClient::send_message(std::string frame) { flow_.send({std::move(frame)}); }

asio::awaitable<void> LinkClient::flush(std::chrono::steady_clock::duration limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (connected_ && !all_written() && std::chrono::steady_clock::now() < deadline) {
        asio::steady_timer timer(ex_, deadline);
        co_await (written_.wait() || timer.async_wait(asio::use_awaitable));
    }
}

void LinkClient::count_written(const LinkFrame& frame, bool resent) {
    // Image bytes, as CRIU wrote them (imgx_proxyd_link_chunk_sent_bytes_total counts the wire).
    if (resent) {
        proxy_metrics().resent_bytes += frame.original;
    } else {
        proxy_metrics().sent_bytes += frame.original;
        unwritten_chunk_bytes_ -= std::min<std::uint64_t>(unwritten_chunk_bytes_, frame.size);
    }
    written_.notify();
}

bool LinkClient::all_written() const {
    if (flow_.window().written() < flow_.window().queued()) return false;
    for (const auto& lane : extra_)
        if (lane->connected && lane->flow.window().written() < lane->flow.window().queued())
            return false;
    return true;
}

}  // namespace imgx::proxyd
