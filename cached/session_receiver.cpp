// Link session receiver: snapshots and files of one img-proxyd session into the image store.
#include "session_receiver.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "cache_metrics.hpp"
#include "criu/stream_codec.hpp"
#include "link.pb.h"
#include "util/log.hpp"
#include "util/names.hpp"

namespace imgx::cached {

namespace {

// The one line that ends every snapshot received here: what arrived, how fast, and why it failed.
void log_snapshot_end(const store::Snapshot& s, const std::string& peer,
                      std::string_view image = {}) {
    const double seconds = std::chrono::duration<double>(s.settled() - s.started()).count();
    const std::string moved = describe_transfer(s.file_count(), s.byte_count(), seconds);
    const LogFields fields{.snapshot = s.id(), .image = image, .peer = peer};
    if (s.state() == store::SnapshotState::complete)
        log_info(fields, "snapshot '{}' complete: {} from {}", s.id(), moved, peer);
    else
        log_error(fields, "snapshot '{}' failed after {} verified from {}: {}", s.id(), moved, peer,
                  s.error());
}

}  // namespace

void SessionReceiver::on_message(link::FrameType type, const std::string& body) {
    const Busy busy(*this);
    switch (type) {
        case link::FrameType::snapshot_begin:
            on_snapshot_begin(body);
            break;
        case link::FrameType::file_begin:
            on_file_begin(body);
            break;
        case link::FrameType::file_end:
            on_file_end(body);
            break;
        case link::FrameType::snapshot_end:
            on_snapshot_end(body);
            break;
        case link::FrameType::snapshot_abort:
            on_snapshot_abort(body);
            break;
        default:
            throw wire::ProtocolError(
                fmt::format("unexpected {} frame", link::frame_type_name(type)));
    }
}

void SessionReceiver::fail_unfinished(const std::string& why) {
    const Busy busy(*this);
    for (auto& [tag, in] : snapshots_) {
        if (in.snapshot->state() != store::SnapshotState::receiving) continue;
        in.snapshot->mark_failed("link from img-proxyd " + peer_ +
                                 " lost before the end of the dump: " + why);
        ++cache_metrics().errors.link_lost;
        log_snapshot_end(*in.snapshot, peer_);
    }
    for (auto& [tag, file] : files_) {
        auto it = snapshots_.find(file.snapshot_tag);
        if (it != snapshots_.end()) it->second.snapshot->bytes_in_flight -= file.builder->size();
    }
    for (auto& [tag, in] : snapshots_) in.snapshot->on_failed(nullptr);
    snapshots_.clear();
    files_.clear();
    early_.clear();
    discarded_.clear();
    discarded_order_.clear();
    failed_.clear();
    wait_release_all();
    data_tag_.reset();
    data_orphan_.reset();
}

std::size_t SessionReceiver::unfinished() const {
    std::size_t count = 0;
    for (const auto& [tag, in] : snapshots_)
        if (in.snapshot->state() == store::SnapshotState::receiving) ++count;
    return count;
}

SessionReceiver::IncomingSnapshot& SessionReceiver::snapshot_of(std::uint64_t tag,
                                                                std::string_view frame) {
    auto it = snapshots_.find(tag);
    if (it == snapshots_.end())
        throw wire::ProtocolError(fmt::format("{} for unknown snapshot tag {}", frame, tag));
    return it->second;
}

SessionReceiver::IncomingFile& SessionReceiver::file_of(std::uint64_t tag, std::string_view frame) {
    auto it = files_.find(tag);
    if (it == files_.end())
        throw wire::ProtocolError(fmt::format("{} for unknown file tag {}", frame, tag));
    return it->second;
}

void SessionReceiver::on_snapshot_begin(const std::string& body) {
    link::SnapshotBegin begin;
    wire::decode_body(body, begin, "SNAPSHOT_BEGIN");
    if (auto problem = snapshot_id_problem(begin.snapshot_id()))
        throw wire::ProtocolError("SNAPSHOT_BEGIN: " + *problem);
    if (snapshots_.contains(begin.snapshot_tag()))
        throw wire::ProtocolError(fmt::format("snapshot tag {} used twice", begin.snapshot_tag()));
    const bool remote = begin.protocol() == "remote";
    if (remote) {
        // The chain name keys img-cached's chain table: bounded and printable, like an id.
        constexpr std::size_t kShownBytes = 64;  // of a refused name, in the error
        if (auto problem = snapshot_id_problem(begin.chain()))
            throw wire::ProtocolError(
                fmt::format("SNAPSHOT_BEGIN of snapshot '{}' from img-proxyd at {}: chain name "
                            "'{}' refused: {}",
                            begin.snapshot_id(), peer_,
                            printable(begin.chain().substr(0, kShownBytes)), *problem));
        for (const auto& id : begin.chain_ids())
            if (auto problem = snapshot_id_problem(id))
                throw wire::ProtocolError("SNAPSHOT_BEGIN chain: " + *problem);
    }
    auto snapshot =
        store_.begin(begin.snapshot_id(), begin.protocol(),
                     remote ? store::ServePolicy::whole_snapshot : store::ServePolicy::per_file);
    if (remote) {
        store_.set_chain(begin.chain(), {begin.chain_ids().begin(), begin.chain_ids().end()});
        snapshot->set_chain(begin.chain(), {begin.chain_ids().begin(), begin.chain_ids().end()});
    }
    highest_tag_ = std::max(highest_tag_, begin.snapshot_tag());
    snapshots_[begin.snapshot_tag()] = {snapshot};
    snapshot->on_failed([this, tag = begin.snapshot_tag()] { snapshot_failed(tag); });
    log_info({.snapshot = snapshot->id(), .peer = peer_},
             "snapshot '{}' begins: receiving a {} dump from {}", snapshot->id(),
             snapshot->protocol(), peer_);
}

void SessionReceiver::on_file_begin(const std::string& body) {
    link::FileBegin begin;
    wire::decode_body(body, begin, "FILE_BEGIN");
    auto& in = snapshot_of(begin.snapshot_tag(), "FILE_BEGIN");
    if (auto problem = image_name_problem(begin.name()))
        throw wire::ProtocolError("FILE_BEGIN: " + *problem);
    if (files_.contains(begin.file_tag()))
        throw wire::ProtocolError(fmt::format("file tag {} used twice", begin.file_tag()));
    highest_tag_ = std::max(highest_tag_, begin.file_tag());
    // Chunks that overtook this FILE_BEGIN on other lanes.
    auto early = early_.extract(begin.file_tag());
    if (!early.empty())
        for (const auto& chunk : early.mapped()) wait_release(chunk.bytes.size());
    if (in.snapshot->state() != store::SnapshotState::receiving) {
        // Failed already (dropped, replaced, storage): the file's frames are consumed unkept.
        remember_discarded(begin.file_tag());
        if (!early.empty())
            for (const auto& chunk : early.mapped())
                if (release_) release_(chunk.lane, chunk.frame);
        return;
    }
    files_[begin.file_tag()] = {begin.snapshot_tag(), in.snapshot->new_file(begin.name())};
    ++in.files_open;
    report_storage_failure(in, begin.snapshot_tag(), begin.name());
    if (early.empty()) return;
    for (auto& chunk : early.mapped()) {
        const auto lane = chunk.lane;
        const auto frame = chunk.frame;
        if (!place_chunk(begin.file_tag(), chunk) && release_) release_(lane, frame);
    }
}

std::string SessionReceiver::describe_file(std::uint64_t file_tag) const {
    const auto file = files_.find(file_tag);
    if (file == files_.end()) return fmt::format("file tag {}", file_tag);
    const auto in = snapshots_.find(file->second.snapshot_tag);
    if (in == snapshots_.end()) return fmt::format("file '{}'", file->second.builder->name());
    return fmt::format("file '{}' of snapshot '{}'", file->second.builder->name(),
                       in->second.snapshot->id());
}

char* SessionReceiver::data_target(std::uint64_t file_tag, std::size_t size) {
    const Busy busy(*this);
    data_orphan_.reset();
    data_tag_.reset();
    data_size_ = size;
    if (!discarded_.contains(file_tag)) {
        auto& file = file_of(file_tag, "DATA");
        if (snapshot_of(file.snapshot_tag, "DATA").snapshot->state() ==
            store::SnapshotState::receiving) {
            data_tag_ = file_tag;
            return file.builder->prepare_segment(size);
        }
    }
    // Its snapshot failed, ended or was aborted: consume the bytes, keep nothing.
    scratch_.resize(size);
    return scratch_.data();
}

void SessionReceiver::data_arrived() {
    const Busy busy(*this);
    cache_metrics().received_bytes += data_size_;
    data_orphan_.reset();
    if (!data_tag_) return;
    auto it = files_.find(*std::exchange(data_tag_, std::nullopt));
    IncomingFile& file = it->second;  // a file let go meanwhile left no data_tag_
    file.reorder.appended(data_size_);
    IncomingSnapshot& in = snapshot_of(file.snapshot_tag, "DATA");
    try {
        file.builder->commit_segment();
        in.snapshot->bytes_in_flight += data_size_;
    } catch (const store::StorageError& e) {
        in.snapshot->mark_failed(e.what());
        report_storage_failure(in, file.snapshot_tag, file.builder->name());
    }
}

bool SessionReceiver::data_at_arrived(std::uint64_t file_tag, std::uint64_t offset,
                                      std::vector<char>& bytes, std::uint32_t lane,
                                      std::uint64_t frame) {
    const Busy busy(*this);
    cache_metrics().received_bytes += bytes.size();
    if (discarded_.contains(file_tag)) return false;  // consumed; its lane acknowledges it
    link::ChunkReorder::Held chunk{offset, std::move(bytes), lane, frame};
    if (!files_.contains(file_tag)) {
        // Tags count up on the proxy and FILE_BEGIN travels on lane 0: a chunk on another lane
        // may overtake its file's FILE_BEGIN, never follow a file that ended.
        if (file_tag <= highest_tag_)
            throw wire::ProtocolError(fmt::format("DATA_AT for unknown file tag {}", file_tag));
        if (!early_.contains(file_tag) && early_.size() >= kMaxEarlyFiles)
            throw wire::ProtocolError(
                fmt::format("DATA_AT for file tag {} before its FILE_BEGIN, while chunks of {} "
                            "other files not begun wait already (at most {})",
                            file_tag, early_.size(), kMaxEarlyFiles));
        wait_charge(file_tag, chunk.bytes.size());
        early_[file_tag].push_back(std::move(chunk));
        return true;
    }
    const bool held = place_chunk(file_tag, chunk);
    if (!held) bytes = std::move(chunk.bytes);  // the caller reuses the buffer
    return held;
}

bool SessionReceiver::place_chunk(std::uint64_t file_tag, link::ChunkReorder::Held& chunk) {
    auto& file = file_of(file_tag, "DATA_AT");
    auto& in = snapshot_of(file.snapshot_tag, "DATA_AT");
    if (file.reorder.place(chunk.offset, chunk.bytes.size()) == link::ChunkReorder::Place::later) {
        wait_charge(file_tag, chunk.bytes.size());
        file.reorder.hold(std::move(chunk));
        if (file.reorder.ready_to_check()) finish_file(file_tag);
        return true;
    }
    append(file, in, chunk.bytes.data(), chunk.bytes.size());
    file.reorder.appended(chunk.bytes.size());
    while (auto next = file.reorder.take_next()) {
        wait_release(next->bytes.size());
        append(file, in, next->bytes.data(), next->bytes.size());
        file.reorder.appended(next->bytes.size());
        if (release_) release_(next->lane, next->frame);
    }
    if (file.reorder.ready_to_check()) finish_file(file_tag);
    return false;
}

void SessionReceiver::append(IncomingFile& file, IncomingSnapshot& in, const char* data,
                             std::size_t size) {
    // An empty chunk adds nothing (and its buffer may be null: no memcpy from it).
    if (size == 0 || in.snapshot->state() != store::SnapshotState::receiving) return;
    try {
        std::memcpy(file.builder->prepare_segment(size), data, size);
        file.builder->commit_segment();
        in.snapshot->bytes_in_flight += size;
    } catch (const store::StorageError& e) {
        in.snapshot->mark_failed(e.what());
        report_storage_failure(in, file.snapshot_tag, file.builder->name());
    }
}

void SessionReceiver::report_storage_failure(IncomingSnapshot& in, std::uint64_t snapshot_tag,
                                             std::string image) {
    if (in.snapshot->state() != store::SnapshotState::failed || in.failure_sent) return;
    in.failure_sent = true;
    ++cache_metrics().errors.storage;
    // The files still open are let go when the frame in progress is handled (snapshot_failed).
    log_snapshot_end(*in.snapshot, peer_, image);
    link::SnapshotResult result;
    result.set_snapshot_tag(snapshot_tag);
    result.set_ok(false);
    result.set_reason(in.snapshot->error());
    send_(link::FrameType::snapshot_result, result);
}

void SessionReceiver::on_file_end(const std::string& body) {
    link::FileEnd end;
    wire::decode_body(body, end, "FILE_END");
    if (discarded_.contains(end.file_tag())) return;
    auto& file = file_of(end.file_tag(), "FILE_END");
    if (file.reorder.size_known())
        throw wire::ProtocolError(fmt::format("FILE_END for file tag {} twice", end.file_tag()));
    file.reorder.set_size(end.size());
    file.xxh3 = end.xxh3();
    // One lane: every chunk came before FILE_END, so the check is due now, whatever arrived.
    // Several: chunks on other lanes may still be on their way; the last one finishes the file.
    if (lanes_ <= 1 || file.reorder.ready_to_check()) {
        finish_file(end.file_tag());
        return;
    }
    file.waiting = true;
    ++snapshot_of(file.snapshot_tag, "FILE_END").files_waiting;
}

void SessionReceiver::finish_file(std::uint64_t file_tag) {
    auto it = files_.find(file_tag);
    IncomingFile file = std::move(it->second);
    files_.erase(it);
    for (const auto& held : file.reorder.drop_held()) {  // bytes beyond the announced size
        wait_release(held.bytes.size());
        if (release_) release_(held.lane, held.frame);
    }
    const std::uint64_t snapshot_tag = file.snapshot_tag;
    auto& in = snapshot_of(snapshot_tag, "FILE_END");
    --in.files_open;
    if (file.waiting) --in.files_waiting;
    verify_file(in, file_tag, file);
    // A SNAPSHOT_END that came while this file waited for its last chunks is due now.
    if (in.files_waiting == 0 && in.end_body) {
        const std::string body = std::move(*in.end_body);
        in.end_body.reset();
        on_snapshot_end(body);
    }
}

void SessionReceiver::verify_file(IncomingSnapshot& in, std::uint64_t file_tag,
                                  IncomingFile& file) {
    in.snapshot->bytes_in_flight -= std::min(in.snapshot->bytes_in_flight, file.builder->size());
    if (in.snapshot->state() != store::SnapshotState::receiving) return;
    // finish() moves the file out of its builder: the name is taken first.
    const std::string name = file.builder->name();
    std::string problem;
    auto image = file.builder->finish(file.reorder.announced_size(), file.xxh3, problem);
    if (!image) {
        const std::string reason = "file " + name + " from " + peer_ + " is corrupt: " + problem;
        in.snapshot->mark_failed(reason);
        in.failure_sent = true;  // its SNAPSHOT_END does not log the failure again
        ++cache_metrics().errors.checksum;
        log_snapshot_end(*in.snapshot, peer_, name);
        link::SnapshotResult result;
        result.set_snapshot_tag(file.snapshot_tag);
        result.set_ok(false);
        result.set_reason(reason);
        send_(link::FrameType::snapshot_result, result);
        return;
    }
    ++in.files_done;
    ++cache_metrics().files;
    in.bytes_done += image->size;
    const std::uint64_t size = image->size;
    in.snapshot->add_file(std::move(image));
    if (in.snapshot->state() == store::SnapshotState::failed) {
        report_storage_failure(in, file.snapshot_tag, name);
        return;
    }
    link::FileAck ack;
    ack.set_file_tag(file_tag);
    ack.set_size(size);
    send_(link::FrameType::file_ack, ack);
}

void SessionReceiver::on_snapshot_end(const std::string& body) {
    link::SnapshotEnd end;
    wire::decode_body(body, end, "SNAPSHOT_END");
    auto& in = snapshot_of(end.snapshot_tag(), "SNAPSHOT_END");
    if (in.files_waiting > 0) {
        // Several lanes: some files still wait for chunks on other lanes; the last one ends it.
        if (in.end_body)
            throw wire::ProtocolError(
                fmt::format("SNAPSHOT_END for snapshot tag {} twice", end.snapshot_tag()));
        in.end_body = body;
        return;
    }
    auto snapshot = in.snapshot;
    if (in.files_open != 0) {
        snapshot->mark_failed(fmt::format("dump ended with {} files still open", in.files_open));
        discard_files_of(end.snapshot_tag());  // their frames still in flight are dropped
    } else if (end.file_count() != in.files_done || end.total_bytes() != in.bytes_done) {
        snapshot->mark_failed(
            fmt::format("dump ended with {} files / {} bytes announced but {} / {} received",
                        end.file_count(), end.total_bytes(), in.files_done, in.bytes_done));
    } else if (snapshot->protocol() == "stream" &&
               snapshot->lookup(std::string(criu::kInventoryImage)) != store::FileLookup::present) {
        // CRIU writes inventory.img last, only when its dump succeeded (img-proxyd checks too).
        snapshot->mark_failed("dump ended without inventory.img (CRIU did not finish the dump)");
    }
    const bool was_receiving = snapshot->state() == store::SnapshotState::receiving;
    snapshot->mark_complete();  // a persisted snapshot may fail here (disk full)
    if (was_receiving && snapshot->state() == store::SnapshotState::failed)
        ++cache_metrics().errors.storage;
    link::SnapshotResult result;
    result.set_snapshot_tag(end.snapshot_tag());
    result.set_ok(snapshot->state() == store::SnapshotState::complete);
    result.set_reason(snapshot->error());
    if (!in.failure_sent) log_snapshot_end(*snapshot, peer_);
    count_snapshot_end(*snapshot);
    forget_snapshot(end.snapshot_tag());
    send_(link::FrameType::snapshot_result, result);
}

void SessionReceiver::on_snapshot_abort(const std::string& body) {
    link::SnapshotAbort abort;
    wire::decode_body(body, abort, "SNAPSHOT_ABORT");
    if (!snapshots_.contains(abort.snapshot_tag()) && abort.snapshot_tag() != 0 &&
        abort.snapshot_tag() <= highest_tag_) {
        // It ended here first: its SNAPSHOT_RESULT and this abort (a newer dump of the id
        // replaced it on img-proxyd before the result came) crossed on the link.
        log_debug({.peer = peer_}, "SNAPSHOT_ABORT for snapshot tag {}, which already ended: {}",
                  abort.snapshot_tag(), abort.reason());
        return;
    }
    auto& in = snapshot_of(abort.snapshot_tag(), "SNAPSHOT_ABORT");
    if (in.snapshot->state() == store::SnapshotState::receiving) {
        in.snapshot->mark_failed("img-proxyd aborted the dump: " + abort.reason());
        ++cache_metrics().errors.aborted;
        log_snapshot_end(*in.snapshot, peer_);
    }
    // img-proxyd sends no FILE_END after an abort: its open files go now, and their frames still
    // in flight (DATA, DATA_AT on any lane, FILE_END) are consumed and dropped.
    discard_files_of(abort.snapshot_tag());
    forget_snapshot(abort.snapshot_tag());
}

}  // namespace imgx::cached
