// Link client: connection loop, ordered frame queue, acknowledgement handling.
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

namespace imgx::proxyd {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace {

constexpr auto kFirstBackoff = 100ms;
constexpr auto kMaxBackoff = 5s;
constexpr auto kHandshakeTimeout = 10s;
// One gathered write moves at most this many frames, so acks are read between batches.
constexpr std::size_t kFramesPerWrite = 64;

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

LinkClient::LinkClient(const asio::any_io_executor& ex, HostPort cache,
                       std::chrono::steady_clock::duration connect_wait, std::shared_ptr<link::LinkTls> tls)
    : ex_(ex),
      cache_(std::move(cache)),
      connect_wait_(connect_wait),
      tls_(std::move(tls)),
      queued_(ex),
      written_(ex),
      link_changed_(ex) {}

void LinkClient::start() {
    asio::co_spawn(ex_, run(), [](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            spdlog::critical("link loop ended: {}", ex.what());
        }
    });
}

void LinkClient::stop() {
    stopping_ = true;
    if (socket_) socket_->close();
    link_changed_.notify();
}

std::string LinkClient::describe() const {
    if (connected_) return "connected to " + cache_.to_string();
    return "connecting to " + cache_.to_string() + (last_error_.empty() ? "" : " (" + last_error_ + ")");
}

asio::awaitable<void> LinkClient::run() {
    auto backoff = std::chrono::steady_clock::duration(kFirstBackoff);
    bool reported = false;
    while (!stopping_) {
        if (tls_)
            socket_ = std::make_shared<link::LinkStream>(tcp::socket(ex_), tls_);
        else
            socket_ = std::make_shared<link::LinkStream>(tcp::socket(ex_));
        auto socket = socket_;
        boost::system::error_code ec;
        tcp::resolver resolver(ex_);
        auto endpoints = co_await resolver.async_resolve(cache_.host, std::to_string(cache_.port),
                                                         asio::redirect_error(asio::use_awaitable, ec));
        if (!ec) co_await asio::async_connect(socket->tcp(), endpoints, asio::redirect_error(asio::use_awaitable, ec));
        if (!ec) {
            // `||` waits for the first branch to *succeed*, so the handshake reports failure as a value.
            auto outcome = co_await (try_handshake(*socket) || sleep_for(kHandshakeTimeout));
            if (outcome.index() == 1) {
                ec = asio::error::timed_out;
            } else if (auto failure = std::get<0>(outcome); !failure.empty()) {
                last_error_ = failure;
                ec = asio::error::connection_aborted;
            }
        } else {
            last_error_ = ec.message();
        }
        if (ec) {
            if (ec == asio::error::timed_out) last_error_ = "no answer to the link handshake";
            const std::string cache = cache_.to_string();
            if (!reported) log_warn({.peer = cache}, "cannot reach img-cached at {}: {}; retrying", cache, last_error_);
            reported = true;
            if (stopping_) break;
            co_await sleep_for(backoff);
            backoff = std::min<std::chrono::steady_clock::duration>(backoff * 2, kMaxBackoff);
            continue;
        }
        socket->tcp().set_option(tcp::no_delay(true));
        ++generation_;
        if (generation_ > 1) ++proxy_metrics().link_reconnects;
        connected_ = true;
        reported = false;
        last_error_.clear();
        backoff = kFirstBackoff;
        link_changed_.notify();
        const std::string cache = cache_.to_string();
        if (socket->encrypted())
            log_info({.peer = cache}, "link to img-cached at {} is up (TLS, certificate of {})", cache, socket->identity());
        else
            log_info({.peer = cache}, "link to img-cached at {} is up (plain TCP)", cache);
        first_failure_.clear();
        try {
            // Both loops end only by failing; `&&` stops the other at the first failure (the
            // cache closing the link is seen at once, idle or not).
            co_await (guarded(write_loop(*socket)) && guarded(read_loop(*socket)));
        } catch (...) {
            if (first_failure_.empty()) first_failure_ = describe_link_failure(std::current_exception());
        }
        connection_lost(first_failure_);
    }
}

asio::awaitable<void> LinkClient::guarded(asio::awaitable<void> loop) {
    try {
        co_await std::move(loop);
    } catch (...) {
        // The loop that fails first says why; the other one only sees its cancellation.
        if (first_failure_.empty()) first_failure_ = describe_link_failure(std::current_exception());
        throw;
    }
}

asio::awaitable<std::string> LinkClient::try_handshake(link::LinkStream& socket) {
    try {
        co_await handshake(socket);
    } catch (const boost::system::system_error& e) {
        if (e.code() == asio::error::eof) co_return std::string("img-cached closed the connection during the handshake");
        co_return link::explain_link_error(e.code());
    } catch (const std::exception& e) {
        co_return std::string(e.what());
    }
    co_return std::string();
}

asio::awaitable<void> LinkClient::handshake(link::LinkStream& socket) {
    std::string peer = "img-cached at " + cache_.to_string();
    co_await socket.handshake(std::move(peer));
    link::Hello hello;
    hello.set_version(link::kVersion);
    hello.set_node(host_name());
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
    spdlog::debug("img-cached at {} is {} (link version {})", cache_.to_string(), answer.node(), answer.version());
}

asio::awaitable<void> LinkClient::write_loop(link::LinkStream& socket) {
    std::vector<asio::const_buffer> buffers;
    buffers.reserve(2 * kFramesPerWrite);
    auto& sent_bytes = proxy_metrics().sent_bytes;
    for (;;) {
        while (queue_.empty()) co_await queued_.wait();
        buffers.clear();
        const std::size_t count = std::min(queue_.size(), kFramesPerWrite);
        std::size_t data_bytes = 0;
        for (std::size_t i = 0; i < count; ++i) {
            const OutFrame& f = queue_[i];
            data_bytes += f.size;  // 0 for control frames
            if (!f.message.empty()) {
                buffers.emplace_back(f.message.data(), f.message.size());
            } else {
                buffers.emplace_back(f.data_header.data(), f.data_header.size());
                buffers.emplace_back(f.buffer.data(), f.size);
            }
        }
        co_await asio::async_write(socket, buffers, asio::use_awaitable);
        sent_bytes += data_bytes;
        // Written frames give their buffers back to the pool, which lets readers drain CRIU again.
        queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(count));
        written_.notify();
    }
}

asio::awaitable<void> LinkClient::read_loop(link::LinkStream& socket) {
    std::string body;
    for (;;) {
        link::HeaderBytes header_bytes;
        co_await asio::async_read(socket, asio::buffer(header_bytes), asio::use_awaitable);
        auto header = link::decode_header(header_bytes);
        body.resize(header.body_length);
        co_await asio::async_read(socket, asio::buffer(body), asio::use_awaitable);
        handle_ack(header.type, body);
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
    queue_.clear();
    written_.notify();
    const std::string cache = cache_.to_string();
    if (!stopping_) log_error({.peer = cache}, "link to img-cached at {} lost: {}", cache, why);
    last_error_ = why;
    if (!stopping_) ++proxy_metrics().errors.link_lost;
    for (auto& [tag, snapshot] : snapshots_) {
        if (snapshot->settled()) continue;
        snapshot->mark_failed("link to img-cached at " + cache + " lost before it confirmed the dump: " + why);
        log_snapshot_end(*snapshot, cache);
    }
    snapshots_.clear();
    files_.clear();
    link_changed_.notify();
}

asio::awaitable<void> LinkClient::flush(std::chrono::steady_clock::duration limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (connected_ && !queue_.empty() && std::chrono::steady_clock::now() < deadline) {
        asio::steady_timer timer(ex_, deadline);
        co_await (written_.wait() || timer.async_wait(asio::use_awaitable));
    }
}

bool LinkClient::usable(const std::shared_ptr<OutgoingSnapshot>& snapshot) const {
    return connected_ && snapshot->link_generation() == generation_ && !snapshot->settled();
}

void LinkClient::enqueue(OutFrame frame) {
    queue_.push_back(std::move(frame));
    queued_.notify();
}

asio::awaitable<std::shared_ptr<OutgoingSnapshot>> LinkClient::begin_snapshot(
    const std::string& id, const std::string& protocol, const std::string& chain,
    const std::vector<std::string>& chain_ids) {
    const auto deadline = std::chrono::steady_clock::now() + connect_wait_;
    while (!connected_ && !stopping_ && std::chrono::steady_clock::now() < deadline) {
        asio::steady_timer timer(ex_, deadline);
        co_await (link_changed_.wait() || timer.async_wait(asio::use_awaitable));
    }
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
    OutFrame frame;
    frame.data_header = link::encode_data_header(file_tag, static_cast<std::uint32_t>(size));
    frame.buffer = std::move(buffer);
    frame.size = size;
    enqueue(std::move(frame));
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
