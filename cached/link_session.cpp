// Link receiver: link frames -> verified files in the image store.
#include "link_session.hpp"

#include "cache_metrics.hpp"
#include "link.pb.h"
#include "link/link_codec.hpp"
#include "util/log.hpp"
#include "util/names.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <vector>

namespace imgx::cached {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// A connection that has not finished the TLS handshake and HELLO by then is closed.
constexpr auto kHandshakeTimeout = 10s;

struct IncomingSnapshot {
    std::shared_ptr<store::Snapshot> snapshot;
    std::uint32_t files_done = 0;
    std::uint64_t bytes_done = 0;
    std::size_t files_open = 0;
    bool failure_sent = false;  // the proxy was told this snapshot failed here
};

struct IncomingFile {
    std::uint64_t snapshot_tag;
    std::unique_ptr<store::ImageFileBuilder> builder;
};

// The one line that ends every snapshot received here: what arrived, how fast, and why it failed.
void log_snapshot_end(const store::Snapshot& s, const std::string& peer, std::string_view image = {}) {
    const double seconds = std::chrono::duration<double>(s.settled() - s.started()).count();
    const std::string moved = describe_transfer(s.file_count(), s.byte_count(), seconds);
    const LogFields fields{.snapshot = s.id(), .image = image, .peer = peer};
    if (s.state() == store::SnapshotState::complete)
        log_info(fields, "snapshot '{}' complete: {} from {}", s.id(), moved, peer);
    else
        log_error(fields, "snapshot '{}' failed after {} verified from {}: {}", s.id(), moved, peer, s.error());
}

std::string host_name() {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    return name;
}

// The receiving state of one link connection.
class Receiver {
public:
    Receiver(link::LinkStream& socket, store::ImageStore& store, std::string peer)
        : socket_(socket), store_(store), peer_(std::move(peer)) {}

    asio::awaitable<void> handshake() {
        std::array<char, 8> preamble;
        co_await asio::async_read(socket_, asio::buffer(preamble), asio::use_awaitable);
        link::check_preamble(preamble);
        auto header = co_await read_header();
        if (header.type != link::FrameType::hello) throw wire::ProtocolError("first frame is not HELLO");
        link::Hello hello;
        wire::decode_body(co_await read_body(header), hello, "HELLO");
        link::Hello answer;
        answer.set_version(link::kVersion);
        answer.set_node(host_name());
        std::string out(link::kPreamble.begin(), link::kPreamble.end());
        out += link::encode_message(link::FrameType::hello, answer);
        co_await asio::async_write(socket_, asio::buffer(out), asio::use_awaitable);
        log_info({.peer = peer_}, "img-proxyd on {} ({}) connected", peer_, hello.node());
    }

    asio::awaitable<void> run() {
        for (;;) {
            auto header = co_await read_header();
            switch (header.type) {
                case link::FrameType::snapshot_begin: on_snapshot_begin(co_await read_body(header)); break;
                case link::FrameType::file_begin: co_await on_file_begin(co_await read_body(header)); break;
                case link::FrameType::data: co_await on_data(header.body_length); break;
                case link::FrameType::file_end: co_await on_file_end(co_await read_body(header)); break;
                case link::FrameType::snapshot_end: co_await on_snapshot_end(co_await read_body(header)); break;
                case link::FrameType::snapshot_abort: on_snapshot_abort(co_await read_body(header)); break;
                default:
                    throw wire::ProtocolError(fmt::format("unexpected {} frame", link::frame_type_name(header.type)));
            }
        }
    }

    // The connection ended: whatever it did not finish can never complete.
    void fail_unfinished(const std::string& why) {
        for (auto& [tag, in] : snapshots_) {
            if (in.snapshot->state() != store::SnapshotState::receiving) continue;
            in.snapshot->mark_failed("link from img-proxyd " + peer_ + " lost before the end of the dump: " + why);
            ++metrics_.errors.link_lost;
            log_snapshot_end(*in.snapshot, peer_);
        }
        for (auto& [tag, file] : files_) {
            auto it = snapshots_.find(file.snapshot_tag);
            if (it != snapshots_.end()) it->second.snapshot->bytes_in_flight -= file.builder->size();
        }
    }

private:
    asio::awaitable<link::FrameHeader> read_header() {
        link::HeaderBytes bytes;
        co_await asio::async_read(socket_, asio::buffer(bytes), asio::use_awaitable);
        co_return link::decode_header(bytes);
    }

    asio::awaitable<std::string> read_body(const link::FrameHeader& header) {
        std::string body(header.body_length, '\0');
        co_await asio::async_read(socket_, asio::buffer(body), asio::use_awaitable);
        co_return body;
    }

    asio::awaitable<void> send(link::FrameType type, const google::protobuf::MessageLite& message) {
        auto frame = link::encode_message(type, message);
        co_await asio::async_write(socket_, asio::buffer(frame), asio::use_awaitable);
    }

    IncomingSnapshot& snapshot_of(std::uint64_t tag, std::string_view frame) {
        auto it = snapshots_.find(tag);
        if (it == snapshots_.end())
            throw wire::ProtocolError(fmt::format("{} for unknown snapshot tag {}", frame, tag));
        return it->second;
    }

    IncomingFile& file_of(std::uint64_t tag, std::string_view frame) {
        auto it = files_.find(tag);
        if (it == files_.end()) throw wire::ProtocolError(fmt::format("{} for unknown file tag {}", frame, tag));
        return it->second;
    }

    void on_snapshot_begin(const std::string& body) {
        link::SnapshotBegin begin;
        wire::decode_body(body, begin, "SNAPSHOT_BEGIN");
        if (auto problem = snapshot_id_problem(begin.snapshot_id()))
            throw wire::ProtocolError("SNAPSHOT_BEGIN: " + *problem);
        if (snapshots_.contains(begin.snapshot_tag()))
            throw wire::ProtocolError(fmt::format("snapshot tag {} used twice", begin.snapshot_tag()));
        const bool remote = begin.protocol() == "remote";
        auto snapshot = store_.begin(begin.snapshot_id(), begin.protocol(),
                                     remote ? store::ServePolicy::whole_snapshot : store::ServePolicy::per_file);
        if (remote) {
            for (const auto& id : begin.chain_ids())
                if (auto problem = snapshot_id_problem(id)) throw wire::ProtocolError("SNAPSHOT_BEGIN chain: " + *problem);
            store_.set_chain(begin.chain(), {begin.chain_ids().begin(), begin.chain_ids().end()});
            snapshot->set_chain(begin.chain(), {begin.chain_ids().begin(), begin.chain_ids().end()});
        }
        snapshots_[begin.snapshot_tag()] = {snapshot};
        log_info({.snapshot = snapshot->id(), .peer = peer_}, "snapshot '{}' begins: receiving a {} dump from {}",
                 snapshot->id(), snapshot->protocol(), peer_);
    }

    asio::awaitable<void> on_file_begin(const std::string& body) {
        link::FileBegin begin;
        wire::decode_body(body, begin, "FILE_BEGIN");
        auto& in = snapshot_of(begin.snapshot_tag(), "FILE_BEGIN");
        if (auto problem = image_name_problem(begin.name())) throw wire::ProtocolError("FILE_BEGIN: " + *problem);
        if (files_.contains(begin.file_tag()))
            throw wire::ProtocolError(fmt::format("file tag {} used twice", begin.file_tag()));
        files_[begin.file_tag()] = {begin.snapshot_tag(), in.snapshot->new_file(begin.name())};
        ++in.files_open;
        co_await report_storage_failure(in, begin.snapshot_tag(), begin.name());
    }

    asio::awaitable<void> on_data(std::uint32_t body_length) {
        std::array<unsigned char, link::kDataTagBytes> tag_bytes;
        co_await asio::async_read(socket_, asio::buffer(tag_bytes), asio::use_awaitable);
        auto& file = file_of(link::decode_data_tag(tag_bytes), "DATA");
        auto& in = snapshot_of(file.snapshot_tag, "DATA");
        const std::size_t size = body_length - link::kDataTagBytes;
        if (in.snapshot->state() != store::SnapshotState::receiving) {
            // Replaced or dropped meanwhile: consume the bytes, keep nothing.
            scratch_.resize(size);
            co_await asio::async_read(socket_, asio::buffer(scratch_), asio::use_awaitable);
            metrics_.received_bytes += size;
            co_return;
        }
        char* into = file.builder->prepare_segment(size);
        co_await asio::async_read(socket_, asio::buffer(into, size), asio::use_awaitable);
        metrics_.received_bytes += size;
        std::string problem;
        try {
            file.builder->commit_segment();
            in.snapshot->bytes_in_flight += size;
        } catch (const store::StorageError& e) {
            problem = e.what();
        }
        if (problem.empty()) co_return;
        in.snapshot->mark_failed(problem);
        co_await report_storage_failure(in, file.snapshot_tag, file.builder->name());
    }

    // A snapshot the store failed (memory budget, disk full, I/O error): logged once and told to
    // the proxy at once, so its dump stops instead of sending the rest for nothing.
    asio::awaitable<void> report_storage_failure(IncomingSnapshot& in, std::uint64_t snapshot_tag,
                                                 std::string image) {
        if (in.snapshot->state() != store::SnapshotState::failed || in.failure_sent) co_return;
        in.failure_sent = true;
        ++metrics_.errors.storage;
        // The files still open keep consuming their frames, but hold no memory or disk any more.
        for (auto& [tag, file] : files_) {
            if (file.snapshot_tag != snapshot_tag) continue;
            in.snapshot->bytes_in_flight -= std::min(in.snapshot->bytes_in_flight, file.builder->size());
            file.builder = std::make_unique<store::ImageFileBuilder>(file.builder->name());
        }
        log_snapshot_end(*in.snapshot, peer_, image);
        link::SnapshotResult result;
        result.set_snapshot_tag(snapshot_tag);
        result.set_ok(false);
        result.set_reason(in.snapshot->error());
        co_await send(link::FrameType::snapshot_result, result);
    }

    asio::awaitable<void> on_file_end(const std::string& body) {
        link::FileEnd end;
        wire::decode_body(body, end, "FILE_END");
        auto it = files_.find(end.file_tag());
        if (it == files_.end()) throw wire::ProtocolError(fmt::format("FILE_END for unknown file tag {}", end.file_tag()));
        IncomingFile file = std::move(it->second);
        files_.erase(it);
        auto& in = snapshot_of(file.snapshot_tag, "FILE_END");
        --in.files_open;
        in.snapshot->bytes_in_flight -= std::min(in.snapshot->bytes_in_flight, file.builder->size());
        if (in.snapshot->state() != store::SnapshotState::receiving) co_return;
        std::string problem;
        auto image = file.builder->finish(end.size(), end.xxh3(), problem);
        if (!image) {
            const std::string reason = "file " + file.builder->name() + " from " + peer_ + " is corrupt: " + problem;
            in.snapshot->mark_failed(reason);
            ++metrics_.errors.checksum;
            log_snapshot_end(*in.snapshot, peer_, file.builder->name());
            link::SnapshotResult result;
            result.set_snapshot_tag(file.snapshot_tag);
            result.set_ok(false);
            result.set_reason(reason);
            co_await send(link::FrameType::snapshot_result, result);
            co_return;
        }
        ++in.files_done;
        ++metrics_.files;
        in.bytes_done += image->size;
        const std::uint64_t size = image->size;
        in.snapshot->add_file(std::move(image));
        if (in.snapshot->state() == store::SnapshotState::failed) {
            co_await report_storage_failure(in, file.snapshot_tag, file.builder->name());
            co_return;
        }
        link::FileAck ack;
        ack.set_file_tag(end.file_tag());
        ack.set_size(size);
        co_await send(link::FrameType::file_ack, ack);
    }

    asio::awaitable<void> on_snapshot_end(const std::string& body) {
        link::SnapshotEnd end;
        wire::decode_body(body, end, "SNAPSHOT_END");
        auto& in = snapshot_of(end.snapshot_tag(), "SNAPSHOT_END");
        auto snapshot = in.snapshot;
        if (in.files_open != 0)
            snapshot->mark_failed(fmt::format("dump ended with {} files still open", in.files_open));
        else if (end.file_count() != in.files_done || end.total_bytes() != in.bytes_done)
            snapshot->mark_failed(fmt::format("dump ended with {} files / {} bytes announced but {} / {} received",
                                              end.file_count(), end.total_bytes(), in.files_done, in.bytes_done));
        const bool was_receiving = snapshot->state() == store::SnapshotState::receiving;
        snapshot->mark_complete();  // a persisted snapshot may fail here (disk full)
        if (was_receiving && snapshot->state() == store::SnapshotState::failed) ++metrics_.errors.storage;
        link::SnapshotResult result;
        result.set_snapshot_tag(end.snapshot_tag());
        result.set_ok(snapshot->state() == store::SnapshotState::complete);
        result.set_reason(snapshot->error());
        if (!in.failure_sent) log_snapshot_end(*snapshot, peer_);
        count_snapshot_end(*snapshot);
        snapshots_.erase(end.snapshot_tag());
        co_await send(link::FrameType::snapshot_result, result);
    }

    void on_snapshot_abort(const std::string& body) {
        link::SnapshotAbort abort;
        wire::decode_body(body, abort, "SNAPSHOT_ABORT");
        auto& in = snapshot_of(abort.snapshot_tag(), "SNAPSHOT_ABORT");
        if (in.snapshot->state() == store::SnapshotState::receiving) {
            in.snapshot->mark_failed("img-proxyd aborted the dump: " + abort.reason());
            ++metrics_.errors.aborted;
            log_snapshot_end(*in.snapshot, peer_);
        }
        // Files of the aborted dump may still be in flight; keep their tags known so their
        // remaining frames are consumed, and forget the snapshot once they have ended.
    }

    link::LinkStream& socket_;
    store::ImageStore& store_;
    std::string peer_;
    std::map<std::uint64_t, IncomingSnapshot> snapshots_;
    std::map<std::uint64_t, IncomingFile> files_;
    std::vector<char> scratch_;
    CacheMetrics& metrics_ = cache_metrics();
};

}  // namespace

asio::awaitable<void> run_link_session(link::LinkStream stream, store::ImageStore& store) {
    boost::system::error_code ec;
    auto remote = stream.tcp().remote_endpoint(ec);
    std::string peer = "unknown peer";
    if (!ec) peer = fmt::format("{}:{}", remote.address().to_string(), remote.port());
    stream.tcp().set_option(tcp::no_delay(true), ec);
    Receiver receiver(stream, store, peer);
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
    std::string why;
    try {
        co_await stream.handshake(peer);
        if (stream.encrypted()) log_info({.peer = peer}, "TLS link from {}: certificate identity {}", peer, stream.identity());
        co_await receiver.handshake();
        *handshake_state = 1;
        handshake_timer.cancel();
        co_await receiver.run();
    } catch (const link::LinkTlsError& e) {
        // Refused before anything was received: nothing to fail, no session to end.
        *handshake_state = 1;
        log_error({.peer = peer}, "link from {} refused: {}", peer, e.what());
        co_return;
    } catch (const boost::system::system_error& e) {
        why = link::explain_link_error(e.code());
        if (e.code() == asio::error::eof) why = "connection closed";
        if (*handshake_state == 2) {
            why = fmt::format("no TLS handshake and HELLO within {} s", kHandshakeTimeout.count());
            log_warn({.peer = peer}, "link from {}: {}; closed it", peer, why);
        }
    } catch (const std::exception& e) {
        why = e.what();
        ++cache_metrics().errors.protocol;
        log_error({.peer = peer}, "link from {}: {}; closing it", peer, why);
    }
    *handshake_state = 1;  // the timer's handler, if already queued, must not touch the stream
    receiver.fail_unfinished(why);
    log_info({.peer = peer}, "img-proxyd on {} disconnected ({})", peer, why);
}

}  // namespace imgx::cached
