// Link session receiver: letting go of the files and snapshots it no longer receives (aborted,
// failed, replaced, dropped, or the session ended), so their memory and fds go back at once.
#include <algorithm>
#include <exception>
#include <iterator>

#include "session_receiver.hpp"

namespace imgx::cached {

SessionReceiver::~SessionReceiver() {
    for (auto& [tag, in] : snapshots_) in.snapshot->on_failed(nullptr);
}

SessionReceiver::Busy::~Busy() {
    if (--r_.busy_ == 0 && std::uncaught_exceptions() == unwinding_) r_.settle_failed();
}

void SessionReceiver::discard_file(FileMap::iterator it) {
    const std::uint64_t file_tag = it->first;
    IncomingFile& file = it->second;
    for (const auto& held : file.reorder.drop_held())
        if (release_) release_(held.lane, held.frame);
    if (auto s = snapshots_.find(file.snapshot_tag); s != snapshots_.end()) {
        IncomingSnapshot& in = s->second;
        --in.files_open;
        if (file.waiting) --in.files_waiting;
        in.snapshot->bytes_in_flight -=
            std::min(in.snapshot->bytes_in_flight, file.builder->size());
    }
    // A DATA frame being read into this builder: it lives until the bytes are in.
    if (data_tag_ == file_tag) {
        data_orphan_ = std::move(file.builder);
        data_tag_.reset();
    }
    files_.erase(it);
    remember_discarded(file_tag);
}

void SessionReceiver::discard_files_of(std::uint64_t snapshot_tag) {
    for (auto it = files_.begin(); it != files_.end();) {
        auto next = std::next(it);
        if (it->second.snapshot_tag == snapshot_tag) discard_file(it);
        it = next;
    }
}

void SessionReceiver::remember_discarded(std::uint64_t file_tag) {
    if (!discarded_.insert(file_tag).second) return;
    discarded_order_.push_back(file_tag);
    if (discarded_order_.size() <= kDiscardedTagsKept) return;
    discarded_.erase(discarded_order_.front());
    discarded_order_.pop_front();
}

void SessionReceiver::snapshot_failed(std::uint64_t snapshot_tag) {
    failed_.push_back(snapshot_tag);
    if (busy_ == 0) settle_failed();
}

void SessionReceiver::settle_failed() {
    ++busy_;  // a SNAPSHOT_END handled here may fail another snapshot: queued, handled below
    while (!failed_.empty()) {
        const std::uint64_t tag = failed_.back();
        failed_.pop_back();
        auto it = snapshots_.find(tag);
        if (it == snapshots_.end()) continue;
        discard_files_of(tag);
        // A SNAPSHOT_END that waited for files on other lanes is due now.
        if (it->second.end_body && it->second.files_waiting == 0) {
            const std::string body = std::move(*it->second.end_body);
            it->second.end_body.reset();
            on_snapshot_end(body);
        }
    }
    --busy_;
}

void SessionReceiver::forget_snapshot(std::uint64_t snapshot_tag) {
    auto it = snapshots_.find(snapshot_tag);
    if (it == snapshots_.end()) return;
    it->second.snapshot->on_failed(nullptr);
    snapshots_.erase(it);
}

}  // namespace imgx::cached
