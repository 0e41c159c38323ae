// The FILE/SNAPSHOT protocol of the dumps on one link and its acknowledgement tables.
#include "snapshot_sender.hpp"

#include <fmt/format.h>

#include "link.pb.h"
#include "proxy_metrics.hpp"
#include "util/log.hpp"

namespace imgx::proxyd {

namespace {

// ", 512.0 MiB sent as 81.3 MiB on the link (compression ratio 6.30)", or nothing.
std::string describe_compression(const OutgoingSnapshot& s) {
    if (s.link_bytes() == 0 || s.link_bytes() == s.chunk_bytes()) return {};
    constexpr double kMiB = 1024.0 * 1024.0;
    return fmt::format(", {:.1f} MiB sent as {:.1f} MiB on the link (compression ratio {:.2f})",
                       double(s.chunk_bytes()) / kMiB, double(s.link_bytes()) / kMiB,
                       double(s.chunk_bytes()) / double(s.link_bytes()));
}

}  // namespace

void log_snapshot_end(const OutgoingSnapshot& s, const std::string& cache) {
    const double seconds = std::chrono::duration<double>(s.finished() - s.started()).count();
    const LogFields fields{.snapshot = s.id(), .peer = cache};
    if (s.state() == OutgoingState::acknowledged) {
        log_info(fields, "snapshot '{}' complete: {} to img-cached at {}{}", s.id(),
                 describe_transfer(s.files_acked(), s.bytes_acked(), seconds), cache,
                 describe_compression(s));
    } else {
        log_error(fields,
                  "snapshot '{}' failed after {} read from CRIU, {} bytes confirmed by img-cached "
                  "at {}: {}",
                  s.id(), describe_transfer(s.files(), s.bytes_read(), seconds), s.bytes_acked(),
                  cache, s.error());
    }
}

SnapshotSender::SnapshotSender(const boost::asio::any_io_executor& ex, std::string cache,
                               FrameSink& sink, WorkerPool* workers,
                               std::function<link::LinkPressure()> pressure)
    : ex_(ex),
      cache_(std::move(cache)),
      sink_(sink),
      outbox_(ex, sink, workers, std::move(pressure)) {}

std::shared_ptr<OutgoingSnapshot> SnapshotSender::begin_snapshot(
    const std::string& id, const std::string& protocol, const std::string& chain,
    const std::vector<std::string>& chain_ids) {
    auto snapshot = std::make_shared<OutgoingSnapshot>(ex_, id, protocol, next_tag_++, session_);
    snapshots_[snapshot->tag()] = snapshot;
    link::SnapshotBegin begin;
    begin.set_snapshot_tag(snapshot->tag());
    begin.set_snapshot_id(id);
    begin.set_protocol(protocol);
    begin.set_chain(chain);
    for (const auto& chain_id : chain_ids) begin.add_chain_ids(chain_id);
    sink_.send_message(link::encode_message(link::FrameType::snapshot_begin, begin));
    return snapshot;
}

std::shared_ptr<OutgoingSnapshot> SnapshotSender::refuse_snapshot(const std::string& id,
                                                                  const std::string& protocol,
                                                                  const std::string& why) {
    auto snapshot = std::make_shared<OutgoingSnapshot>(ex_, id, protocol, next_tag_++, session_);
    snapshot->mark_failed(why);
    return snapshot;
}

std::uint64_t SnapshotSender::begin_file(const std::shared_ptr<OutgoingSnapshot>& snapshot,
                                         const std::string& name) {
    const std::uint64_t tag = next_tag_++;
    if (!usable(snapshot)) return tag;
    snapshot->add_file();
    files_[tag] = {snapshot, 0};
    link::FileBegin begin;
    begin.set_file_tag(tag);
    begin.set_snapshot_tag(snapshot->tag());
    begin.set_name(name);
    sink_.send_message(link::encode_message(link::FrameType::file_begin, begin));
    return tag;
}

void SnapshotSender::send_data(const std::shared_ptr<OutgoingSnapshot>& snapshot,
                               std::uint64_t file_tag, PooledBuffer buffer, std::size_t size) {
    if (!usable(snapshot) || size == 0) return;
    auto file = files_.find(file_tag);
    if (file == files_.end()) return;  // its snapshot settled meanwhile
    const std::uint64_t offset = file->second.size;
    file->second.size += size;
    outbox_.chunk(snapshot, file_tag, offset, std::move(buffer), size);
}

void SnapshotSender::end_file(const std::shared_ptr<OutgoingSnapshot>& snapshot,
                              std::uint64_t file_tag, std::uint64_t size, std::uint64_t xxh3) {
    if (!usable(snapshot)) return;
    link::FileEnd end;
    end.set_file_tag(file_tag);
    end.set_size(size);
    end.set_xxh3(xxh3);
    outbox_.forget_file(file_tag);
    outbox_.message(snapshot->tag(), link::encode_message(link::FrameType::file_end, end));
}

void SnapshotSender::end_snapshot(const std::shared_ptr<OutgoingSnapshot>& snapshot,
                                  std::uint32_t files, std::uint64_t bytes) {
    if (!usable(snapshot)) return;
    link::SnapshotEnd end;
    end.set_snapshot_tag(snapshot->tag());
    end.set_file_count(files);
    end.set_total_bytes(bytes);
    snapshot->mark_sending();
    outbox_.message(snapshot->tag(), link::encode_message(link::FrameType::snapshot_end, end));
}

void SnapshotSender::abort_snapshot(const std::shared_ptr<OutgoingSnapshot>& snapshot,
                                    const std::string& reason) {
    const bool tell_cache = usable(snapshot);
    const bool was_settled = snapshot->settled();
    snapshot->mark_failed(reason);
    if (!was_settled) log_snapshot_end(*snapshot, cache_);
    if (!tell_cache) return;
    link::SnapshotAbort abort;
    abort.set_snapshot_tag(snapshot->tag());
    abort.set_reason(reason);
    forget(snapshot);
    sink_.send_message(link::encode_message(link::FrameType::snapshot_abort, abort));
}

void SnapshotSender::handle_answer(link::FrameType type, const std::string& body) {
    if (type == link::FrameType::file_ack)
        on_file_ack(body);
    else if (type == link::FrameType::snapshot_result)
        on_snapshot_result(body);
    else
        throw wire::ProtocolError(
            fmt::format("img-cached sent an unexpected {} frame", link::frame_type_name(type)));
}

void SnapshotSender::on_file_ack(const std::string& body) {
    link::FileAck ack;
    wire::decode_body(body, ack, "FILE_ACK");
    auto it = files_.find(ack.file_tag());
    if (it == files_.end()) return;  // its snapshot already settled
    it->second.snapshot->add_acked(ack.size());
    ++proxy_metrics().files;
    files_.erase(it);
}

void SnapshotSender::on_snapshot_result(const std::string& body) {
    link::SnapshotResult result;
    wire::decode_body(body, result, "SNAPSHOT_RESULT");
    auto it = snapshots_.find(result.snapshot_tag());
    if (it == snapshots_.end()) return;
    auto snapshot = it->second;
    const bool was_settled = snapshot->settled();
    if (result.ok())
        snapshot->mark_acknowledged();
    else
        snapshot->mark_failed("img-cached refused the snapshot: " + result.reason());
    if (!was_settled) log_snapshot_end(*snapshot, cache_);
    if (!was_settled) count_snapshot_end(*snapshot, result.ok());
    forget(snapshot);
}

void SnapshotSender::fail_session(const std::string& why) {
    for (auto& [tag, snapshot] : snapshots_) {
        if (snapshot->settled()) continue;
        snapshot->mark_failed("link to img-cached at " + cache_ +
                              " lost before it confirmed the dump: " + why);
        log_snapshot_end(*snapshot, cache_);
    }
    snapshots_.clear();
    files_.clear();
    outbox_.drop_all();
    ++session_;
}

bool SnapshotSender::usable(const std::shared_ptr<OutgoingSnapshot>& snapshot) const {
    // While a lost connection is being resumed, frames wait in the window (data bounded by the
    // pool).
    return snapshot->link_generation() == session_ && !snapshot->settled();
}

void SnapshotSender::forget(const std::shared_ptr<OutgoingSnapshot>& snapshot) {
    outbox_.drop(snapshot->tag());  // chunks still being compressed are not sent
    snapshots_.erase(snapshot->tag());
    std::erase_if(files_, [&](const auto& kv) { return kv.second.snapshot == snapshot; });
}

}  // namespace imgx::proxyd
