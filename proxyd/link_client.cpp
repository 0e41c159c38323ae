// Link client: connection loop with resume, numbered frames held until acknowledged, acknowledgements.
#include "link_client.hpp"

#include "link.pb.h"
#include "proxy_metrics.hpp"
#include "util/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <random>

namespace imgx::proxyd {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace {

constexpr auto kFirstBackoff = 100ms;
constexpr auto kMaxBackoff = 5s;
constexpr auto kHandshakeTimeout = 10s;

std::uint64_t new_session_id() {
    std::random_device random;
    std::uint64_t id = 0;
    while (id == 0) id = (std::uint64_t(random()) << 32) | random();
    return id;
}

long whole_seconds(std::chrono::steady_clock::duration d) {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration d) {
    asio::steady_timer timer(co_await asio::this_coro::executor, d);
    co_await timer.async_wait(asio::use_awaitable);
}

std::string describe_link_failure(std::exception_ptr failure) {
    try {
        if (failure) std::rethrow_exception(failure);
    } catch (const boost::system::system_error& e) {
        if (e.code() == asio::error::eof) return "img-cached closed the connection";
        return link::explain_link_error(e.code());
    } catch (const std::exception& e) {
        return e.what();
    }
    return "connection closed";
}

// The one line that ends every dump sent from here: what moved, how fast, and why it failed.
void log_snapshot_end(const OutgoingSnapshot& s, const std::string& cache) {
    const double seconds = std::chrono::duration<double>(s.finished() - s.started()).count();
    const LogFields fields{.snapshot = s.id(), .peer = cache};
    if (s.state() == OutgoingState::acknowledged) {
        log_info(fields, "snapshot '{}' complete: {} to img-cached at {}", s.id(),
                 describe_transfer(s.files_acked(), s.bytes_acked(), seconds), cache);
    } else {
        log_error(fields, "snapshot '{}' failed after {} read from CRIU, {} bytes confirmed by img-cached at {}: {}",
                  s.id(), describe_transfer(s.files(), s.bytes_read(), seconds), s.bytes_acked(), cache, s.error());
    }
}

std::string host_name() {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    return name;
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
                       std::shared_ptr<link::LinkTls> tls, std::size_t streams)
    : ex_(ex),
      cache_(std::move(cache)),
      connect_wait_(connect_wait),
      resume_(resume),
      tls_(std::move(tls)),
      session_id_(new_session_id()),
      flow_(ex),
      written_(ex),
      link_changed_(ex),
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

asio::awaitable<void> LinkClient::run() {
    link::Backoff backoff(kFirstBackoff, kMaxBackoff);
    bool reported = false;
    while (!stopping_) {
        if (tls_)
            socket_ = std::make_shared<link::LinkStream>(tcp::socket(ex_), tls_);
        else
            socket_ = std::make_shared<link::LinkStream>(tcp::socket(ex_));
        auto socket = socket_;
        const std::string failure = co_await try_connect(*socket, 0, answer_);
        if (!failure.empty()) {
            last_error_ = failure;
            const std::string cache = cache_.to_string();
            if (!reported) log_warn({.peer = cache}, "cannot reach img-cached at {}: {}; retrying", cache, last_error_);
            reported = true;
            if (stopping_) break;
            // Sleep no longer than the resume budget lasts, so a session fails when it runs out.
            auto wait = backoff.next();
            if (lost_at_) wait = std::min(wait, resume_time_left());
            co_await sleep_for(wait);
            resume_time_left();
            continue;
        }
        boost::system::error_code ignored;  // a socket that broke meanwhile fails its first read
        socket->tcp().set_option(tcp::no_delay(true), ignored);
        socket->tcp().set_option(asio::socket_base::keep_alive(true), ignored);
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
            fail_session("img-cached at " + cache_.to_string() + " answered the resume wrongly: " + refused, true);
            co_await sleep_for(backoff.next());
            continue;
        }
        backoff.reset();
        connected_ = true;
        const std::uint64_t generation = generation_;  // a lane that fails the session ends this connection
        link_changed_.notify();
        const std::string cache = cache_.to_string();
        if (socket->encrypted())
            log_info({.peer = cache}, "link to img-cached at {} is up (TLS, certificate of {})", cache, socket->identity());
        else
            log_info({.peer = cache}, "link to img-cached at {} is up (plain TCP)", cache);
        first_failure_.clear();
        protocol_failure_ = false;
        link::LinkLiveness liveness(resume_.idle_timeout, std::chrono::steady_clock::now());
        auto current = [this, generation] { return generation_ == generation; };
        load_.new_connection(0);
        auto on_written = [this](const LinkFrame& frame, bool resent) { count_written(frame, resent); };
        try {
            // Every loop ends only by failing; `&&` stops the others at the first failure (the
            // cache closing the link is seen at once, idle or not).
            co_await (guarded(flow_.write_loop(*socket, liveness, current, on_written), first_failure_, protocol_failure_) &&
                      guarded(read_loop(0, *socket, liveness, generation), first_failure_, protocol_failure_) &&
                      guarded(flow_.tick_loop(liveness, current), first_failure_, protocol_failure_));
        } catch (...) {
            if (first_failure_.empty()) first_failure_ = describe_link_failure(std::current_exception());
        }
        connection_lost(first_failure_);
    }
    if (lost_at_) fail_session("img-proxyd stopped while resuming the link", true);
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
        const std::uint64_t generation = generation_;
        lane.generation = generation;
        auto socket = std::make_shared<link::LinkStream>(tcp::socket(ex_));
        if (tls_) socket = std::make_shared<link::LinkStream>(tcp::socket(ex_), tls_);
        lane.socket = socket;
        link::Hello answer;
        std::string failure = co_await try_connect(*socket, static_cast<std::uint32_t>(n), answer);
        if (stopping_) break;
        if (generation_ != generation) continue;  // the session ended meanwhile
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
        boost::system::error_code ignored;
        socket->tcp().set_option(tcp::no_delay(true), ignored);
        socket->tcp().set_option(asio::socket_base::keep_alive(true), ignored);
        load_.acknowledged(n, lane.flow.window().acknowledged());
        if (lane.lost_at) {
            ++proxy_metrics().link_resumes;
            log_info({.peer = cache}, "link lane {} to img-cached at {} resumed: going on from frame {}", n, cache,
                     answer.received_through() + 1);
        } else {
            spdlog::debug("link lane {} to img-cached at {} is up", n, cache);
        }
        lane.joined = true;
        lane.connected = true;
        lane.lost_at.reset();
        backoff.reset();
        written_.notify();
        link::LinkLiveness liveness(resume_.idle_timeout, std::chrono::steady_clock::now());
        auto current = [this, generation, &lane, socket] {
            return generation_ == generation && lane.socket == socket && !stopping_;
        };
        load_.new_connection(n);
        auto on_written = [this](const LinkFrame& frame, bool resent) { count_written(frame, resent); };
        std::string why;
        bool protocol_failure = false;
        try {
            co_await (guarded(lane.flow.write_loop(*socket, liveness, current, on_written), why, protocol_failure) &&
                      guarded(read_loop(n, *socket, liveness, generation), why, protocol_failure) &&
                      guarded(lane.flow.tick_loop(liveness, current), why, protocol_failure));
        } catch (...) {
            if (why.empty()) why = describe_link_failure(std::current_exception());
        }
        lane.connected = false;
        socket->close();
        if (stopping_ || generation_ != generation) continue;
        lane_lost(n, why, protocol_failure);
    }
}

void LinkClient::lane_lost(std::size_t n, const std::string& why, bool protocol_failure) {
    const std::string cache = cache_.to_string();
    ++proxy_metrics().errors.link_lost;
    if (resume_.retry.count() == 0 || protocol_failure) {
        log_error({.peer = cache}, "link lane {} to img-cached at {} lost: {}", n, cache, why);
        fail_session(fmt::format("lane {} lost: {}", n, why), true);
        return;
    }
    log_warn({.peer = cache}, "link lane {} to img-cached at {} lost: {}; resuming it within {} s (link_retry_seconds)", n,
             cache, why, whole_seconds(resume_.retry));
    extra_[n - 1]->lost_at = std::chrono::steady_clock::now();
}

bool LinkClient::lane_may_retry(std::size_t n, const std::string& why, link::Backoff& backoff,
                                std::chrono::steady_clock::duration& wait) {
    using namespace std::chrono;
    Lane& lane = *extra_[n - 1];
    const auto now = steady_clock::now();
    if (!lane.lost_at) lane.lost_at = now;  // a lane that never came up counts from its first attempt
    const auto spent = now - *lane.lost_at;
    if (spent >= resume_.retry) {
        const std::string cache = cache_.to_string();
        log_error({.peer = cache}, "link lane {} to img-cached at {} not connected within {} s (link_retry_seconds): {}",
                  n, cache, whole_seconds(resume_.retry), why);
        fail_session(fmt::format("lane {} not connected within {} s (link_retry_seconds): {}", n,
                                 whole_seconds(resume_.retry), why), true);
        return false;
    }
    wait = std::min<steady_clock::duration>(backoff.next(), resume_.retry - spent);
    return true;
}

asio::awaitable<std::string> LinkClient::try_connect(link::LinkStream& socket, std::uint32_t lane, link::Hello& answer) {
    boost::system::error_code ec;
    tcp::resolver resolver(ex_);
    auto endpoints = co_await resolver.async_resolve(cache_.host, std::to_string(cache_.port),
                                                     asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) co_await asio::async_connect(socket.tcp(), endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return ec.message();
    // `||` waits for the first branch to *succeed*, so the handshake reports failure as a value.
    auto outcome = co_await (try_handshake(socket, lane, answer) || sleep_for(kHandshakeTimeout));
    if (outcome.index() == 1) co_return std::string("no answer to the link handshake");
    co_return std::get<0>(outcome);
}

void LinkClient::session_begins(const link::Hello& answer) {
    const std::string cache = cache_.to_string();
    const bool resumed = session_known_ && answer.resume();
    if (resumed) {
        flow_.window().resume_from(answer.received_through());
        load_.acknowledged(0, flow_.window().acknowledged());
        ++proxy_metrics().link_resumes;
        std::string after;
        if (lost_at_) after = fmt::format(" after {} ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                                              std::chrono::steady_clock::now() - *lost_at_).count());
        log_info({.peer = cache}, "link session to img-cached at {} resumed{}: going on from frame {}, {} frames to write",
                 cache, after, answer.received_through() + 1, flow_.window().unwritten());
    } else if (session_known_) {
        fail_session("img-cached at " + cache + " no longer holds the link session (it restarted, or the session "
                     "expired after its link_resume_seconds)", false);
    }
    if (!resumed) {
        // A new session: as many lanes as both sides want (an older img-cached answers 0: one).
        lanes_ = std::clamp<std::size_t>(answer.streams(), 1, streams_);
        load_.reset(lanes_);
        if (streams_ > 1)
            log_info({.peer = cache}, "link session to img-cached at {} uses {} of {} lanes (link_streams)", cache,
                     lanes_, streams_);
    }
    session_known_ = true;
    abandoned_session_ = 0;
    lost_at_.reset();
}

asio::awaitable<void> LinkClient::guarded(asio::awaitable<void> loop, std::string& first_failure,
                                          bool& protocol_failure) {
    try {
        co_await std::move(loop);
    } catch (const wire::ProtocolError&) {
        if (first_failure.empty()) {
            first_failure = describe_link_failure(std::current_exception());
            protocol_failure = true;
        }
        throw;
    } catch (...) {
        // The loop that fails first says why; the others only see their cancellation.
        if (first_failure.empty()) first_failure = describe_link_failure(std::current_exception());
        throw;
    }
}

asio::awaitable<std::string> LinkClient::try_handshake(link::LinkStream& socket, std::uint32_t lane,
                                                       link::Hello& answer) {
    try {
        co_await handshake(socket, lane, answer);
    } catch (const boost::system::system_error& e) {
        if (e.code() == asio::error::eof) co_return std::string("img-cached closed the connection during the handshake");
        co_return link::explain_link_error(e.code());
    } catch (const std::exception& e) {
        co_return std::string(e.what());
    }
    co_return std::string();
}

asio::awaitable<void> LinkClient::handshake(link::LinkStream& socket, std::uint32_t lane, link::Hello& answer_out) {
    std::string peer = "img-cached at " + cache_.to_string();
    co_await socket.handshake(std::move(peer));
    link::Hello hello;
    hello.set_version(link::kVersion);
    hello.set_node(host_name());
    hello.set_session(session_id_);
    // A lane above 0 always continues the session (its own numbering may still be at 0).
    hello.set_resume(session_known_ || lane > 0);
    hello.set_received_through(flow_of(lane).counter().take_all());
    if (lane == 0 && streams_ > 1) hello.set_streams(static_cast<std::uint32_t>(streams_));
    hello.set_lane(lane);
    hello.set_idle_timeout_ms(static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(resume_.idle_timeout).count()));
    hello.set_abandoned_session(abandoned_session_);
    std::string out(link::kPreamble.begin(), link::kPreamble.end());
    out += link::encode_message(link::FrameType::hello, hello);
    co_await asio::async_write(socket, asio::buffer(out), asio::use_awaitable);

    std::array<char, 8> preamble;
    co_await asio::async_read(socket, asio::buffer(preamble), asio::use_awaitable);
    link::check_preamble(preamble);
    link::HeaderBytes header_bytes;
    co_await asio::async_read(socket, asio::buffer(header_bytes), asio::use_awaitable);
    auto header = link::decode_header(header_bytes);
    if (header.type != link::FrameType::hello) throw wire::ProtocolError("img-cached did not answer HELLO");
    std::string body(header.body_length, '\0');
    co_await asio::async_read(socket, asio::buffer(body), asio::use_awaitable);
    link::Hello answer;
    wire::decode_body(body, answer, "HELLO");
    if (answer.session() != session_id_) throw wire::ProtocolError("img-cached answered for another link session");
    answer_out = answer;
    spdlog::debug("img-cached at {} is {} (link version {})", cache_.to_string(), answer.node(), answer.version());
}

asio::awaitable<void> LinkClient::read_loop(std::size_t n, link::LinkStream& socket, link::LinkLiveness& liveness,
                                            std::uint64_t generation) {
    auto& flow = flow_of(n);
    std::string body;
    for (;;) {
        link::HeaderBytes header_bytes;
        co_await asio::async_read(socket, asio::buffer(header_bytes), asio::use_awaitable);
        auto header = link::decode_header(header_bytes);
        body.resize(header.body_length);
        co_await asio::async_read(socket, asio::buffer(body), asio::use_awaitable);
        if (generation_ != generation) throw link::LinkStalled("the link session ended");
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
            throw wire::ProtocolError(fmt::format("img-cached sent a {} frame on lane {}", link::frame_type_name(header.type), n));
        handle_ack(header.type, body);
        flow.received(link::kHeaderBytes + body.size());
    }
}

void LinkClient::handle_ack(link::FrameType type, const std::string& body) {
    if (type == link::FrameType::file_ack) {
        link::FileAck ack;
        wire::decode_body(body, ack, "FILE_ACK");
        auto it = files_.find(ack.file_tag());
        if (it == files_.end()) return;  // its snapshot already settled
        it->second.snapshot->add_acked(ack.size());
        ++proxy_metrics().files;
        files_.erase(it);
    } else if (type == link::FrameType::snapshot_result) {
        link::SnapshotResult result;
        wire::decode_body(body, result, "SNAPSHOT_RESULT");
        auto it = snapshots_.find(result.snapshot_tag());
        if (it == snapshots_.end()) return;
        auto snapshot = it->second;
        snapshots_.erase(it);
        const bool was_settled = snapshot->settled();
        if (result.ok())
            snapshot->mark_acknowledged();
        else
            snapshot->mark_failed("img-cached refused the snapshot: " + result.reason());
        if (!was_settled) log_snapshot_end(*snapshot, cache_.to_string());
        if (!was_settled) count_snapshot_end(*snapshot, result.ok());
        std::erase_if(files_, [&](const auto& kv) { return kv.second.snapshot == snapshot; });
    } else {
        throw wire::ProtocolError(fmt::format("img-cached sent an unexpected {} frame", link::frame_type_name(type)));
    }
}

void LinkClient::connection_lost(const std::string& why) {
    connected_ = false;
    const std::string cache = cache_.to_string();
    last_error_ = why;
    if (!stopping_) ++proxy_metrics().errors.link_lost;
    if (stopping_ || resume_.retry.count() == 0 || protocol_failure_) {
        if (!stopping_) log_error({.peer = cache}, "link to img-cached at {} lost: {}", cache, why);
        fail_session(why, true);
    } else {
        log_warn({.peer = cache}, "link to img-cached at {} lost: {}; resuming {} unfinished dumps within {} s "
                 "(link_retry_seconds)", cache, why, snapshots_.size(), whole_seconds(resume_.retry));
        lost_at_ = std::chrono::steady_clock::now();
        loss_reason_ = why;
    }
    link_changed_.notify();
    written_.notify();
}

std::chrono::steady_clock::duration LinkClient::resume_time_left() {
    using namespace std::chrono;
    if (!lost_at_) return steady_clock::duration::max();
    const auto spent = steady_clock::now() - *lost_at_;
    if (spent < resume_.retry) return resume_.retry - spent;
    fail_session(fmt::format("{}; not resumed within {} s (link_retry_seconds): {}", loss_reason_,
                             whole_seconds(resume_.retry), last_error_),
                 true);
    return steady_clock::duration::zero();
}

void LinkClient::fail_session(const std::string& why, bool renew) {
    const std::string cache = cache_.to_string();
    for (auto& [tag, snapshot] : snapshots_) {
        if (snapshot->settled()) continue;
        snapshot->mark_failed("link to img-cached at " + cache + " lost before it confirmed the dump: " + why);
        log_snapshot_end(*snapshot, cache);
    }
    snapshots_.clear();
    files_.clear();
    // Connections of the session stop before their frames go: their loops see the generation
    // change, and a closed socket no longer reads the frames' bytes.
    if (renew && socket_) socket_->close();  // lane 0 begins the next session
    for (auto& lane : extra_) {
        if (lane->socket) lane->socket->close();
        lane->flow.clear();
        lane->joined = false;
        lane->lost_at.reset();
    }
    flow_.clear();
    lanes_ = 1;
    load_.reset(1);
    ++generation_;
    if (renew) {
        if (session_known_) abandoned_session_ = session_id_;
        session_id_ = new_session_id();
        session_known_ = false;
    }
    lost_at_.reset();
    written_.notify();
}

asio::awaitable<void> LinkClient::flush(std::chrono::steady_clock::duration limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (connected_ && !all_written() && std::chrono::steady_clock::now() < deadline) {
        asio::steady_timer timer(ex_, deadline);
        co_await (written_.wait() || timer.async_wait(asio::use_awaitable));
    }
}

void LinkClient::count_written(const LinkFrame& frame, bool resent) {
    if (resent)
        proxy_metrics().resent_bytes += frame.size;
    else
        proxy_metrics().sent_bytes += frame.size;
    written_.notify();
}

bool LinkClient::all_written() const {
    if (flow_.window().written() < flow_.window().queued()) return false;
    for (const auto& lane : extra_)
        if (lane->connected && lane->flow.window().written() < lane->flow.window().queued()) return false;
    return true;
}

bool LinkClient::usable(const std::shared_ptr<OutgoingSnapshot>& snapshot) const {
    // While a lost connection is being resumed, frames wait in the window (data bounded by the pool).
    return snapshot->link_generation() == generation_ && !snapshot->settled();
}

void LinkClient::enqueue(LinkFrame frame) { flow_.send(std::move(frame)); }

asio::awaitable<std::shared_ptr<OutgoingSnapshot>> LinkClient::begin_snapshot(
    const std::string& id, const std::string& protocol, const std::string& chain,
    const std::vector<std::string>& chain_ids, std::function<bool()> wanted) {
    const auto deadline = std::chrono::steady_clock::now() + connect_wait_;
    // Waiters wake in no set order: each waits for its turn too, so announcements keep call order.
    // No suspension follows the loop, so the turn is over once it ends.
    const std::uint64_t turn = begin_calls_++;
    while ((!connected_ || begins_done_ != turn) && !stopping_ && std::chrono::steady_clock::now() < deadline) {
        asio::steady_timer timer(ex_, deadline);
        co_await (link_changed_.wait() || timer.async_wait(asio::use_awaitable));
    }
    ++begins_done_;
    link_changed_.notify();
    if (wanted && !wanted()) co_return nullptr;
    auto snapshot = std::make_shared<OutgoingSnapshot>(ex_, id, protocol, next_tag_++, generation_);
    if (!connected_) {
        ++proxy_metrics().errors.unreachable;
        std::string why = last_error_;
        if (why.empty()) why = "no connection";
        snapshot->mark_failed("img-cached at " + cache_.to_string() + " is unreachable: " + why);
        co_return snapshot;
    }
    snapshots_[snapshot->tag()] = snapshot;
    link::SnapshotBegin begin;
    begin.set_snapshot_tag(snapshot->tag());
    begin.set_snapshot_id(id);
    begin.set_protocol(protocol);
    begin.set_chain(chain);
    for (const auto& chain_id : chain_ids) begin.add_chain_ids(chain_id);
    enqueue({link::encode_message(link::FrameType::snapshot_begin, begin)});
    co_return snapshot;
}

std::uint64_t LinkClient::begin_file(const std::shared_ptr<OutgoingSnapshot>& snapshot, const std::string& name) {
    const std::uint64_t tag = next_tag_++;
    if (!usable(snapshot)) return tag;
    snapshot->add_file();
    files_[tag] = {snapshot, 0};
    link::FileBegin begin;
    begin.set_file_tag(tag);
    begin.set_snapshot_tag(snapshot->tag());
    begin.set_name(name);
    enqueue({link::encode_message(link::FrameType::file_begin, begin)});
    return tag;
}

void LinkClient::send_data(const std::shared_ptr<OutgoingSnapshot>& snapshot, std::uint64_t file_tag,
                           PooledBuffer buffer, std::size_t size) {
    if (!usable(snapshot) || size == 0) return;
    auto file = files_.find(file_tag);
    if (file == files_.end()) return;  // its snapshot settled meanwhile
    const std::uint64_t offset = file->second.size;
    file->second.size += size;
    LinkFrame frame;
    frame.buffer = std::move(buffer);
    frame.size = size;
    if (lanes_ <= 1) {
        const auto header = link::encode_data_header(file_tag, static_cast<std::uint32_t>(size));
        std::copy(header.begin(), header.end(), frame.data_header.begin());
        frame.header_size = header.size();
        enqueue(std::move(frame));
        return;
    }
    // Several lanes: the chunk names its offset and goes to the lane that is up where it would
    // arrive first (LaneLoad; two system calls per lane per chunk of up to 1 MiB).
    frame.data_header = link::encode_data_at_header(file_tag, offset, static_cast<std::uint32_t>(size));
    frame.header_size = frame.data_header.size();
    auto up = [this](std::size_t n) { return n == 0 ? connected_ : extra_[n - 1]->connected; };
    const auto now = std::chrono::steady_clock::now();
    for (std::size_t n = 0; n < lanes_; ++n) {
        const auto& socket = n == 0 ? socket_ : extra_[n - 1]->socket;
        TcpProgress tcp;
        if (socket && up(n)) tcp = socket->tcp_progress();
        load_.observe(n, flow_of(n).window().written(), tcp.queued, tcp.acknowledged, now);
    }
    const std::size_t lane = load_.choose(up, size);
    const std::uint64_t number = flow_of(lane).send(std::move(frame));
    load_.queued(lane, number, size);
}

void LinkClient::end_file(const std::shared_ptr<OutgoingSnapshot>& snapshot, std::uint64_t file_tag,
                          std::uint64_t size, std::uint64_t xxh3) {
    if (!usable(snapshot)) return;
    link::FileEnd end;
    end.set_file_tag(file_tag);
    end.set_size(size);
    end.set_xxh3(xxh3);
    enqueue({link::encode_message(link::FrameType::file_end, end)});
}

void LinkClient::end_snapshot(const std::shared_ptr<OutgoingSnapshot>& snapshot, std::uint32_t files,
                              std::uint64_t bytes) {
    if (!usable(snapshot)) return;
    link::SnapshotEnd end;
    end.set_snapshot_tag(snapshot->tag());
    end.set_file_count(files);
    end.set_total_bytes(bytes);
    snapshot->mark_sending();
    enqueue({link::encode_message(link::FrameType::snapshot_end, end)});
}

void LinkClient::abort_snapshot(const std::shared_ptr<OutgoingSnapshot>& snapshot, const std::string& reason) {
    const bool tell_cache = usable(snapshot);
    const bool was_settled = snapshot->settled();
    snapshot->mark_failed(reason);
    if (!was_settled) log_snapshot_end(*snapshot, cache_.to_string());
    if (!tell_cache) return;
    link::SnapshotAbort abort;
    abort.set_snapshot_tag(snapshot->tag());
    abort.set_reason(reason);
    snapshots_.erase(snapshot->tag());
    std::erase_if(files_, [&](const auto& kv) { return kv.second.snapshot == snapshot; });
    enqueue({link::encode_message(link::FrameType::snapshot_abort, abort)});
}

}  // namespace imgx::proxyd
