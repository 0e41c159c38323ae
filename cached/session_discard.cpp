// Link session receiver: letting go of the files and snapshots it no longer receives (aborted,
// failed, replaced, dropped, or the session ended), so their memory and fds go back at once.
#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <iterator>

#include "session_receiver.hpp"

namespace imgx::cached {

SessionReceiver::~SessionReceiver() {
    for (auto& [tag, in] : snapshots_) in.snapshot->on_failed(nullptr);
    wait_release_all();
}

SessionReceiver::Busy::~Busy() {
    if (--r_.busy_ == 0 && std::uncaught_exceptions() == unwinding_) r_.settle_failed();
}

void SessionReceiver::discard_file(FileMap::iterator it) {
    const std::uint64_t file_tag = it->first;
    IncomingFile& file = it->second;
    for (const auto& held : file.reorder.drop_held()) {
        wait_release(held.bytes.size());
        if (release_) release_(held.lane, held.frame);
    }
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

void SessionReceiver::wait_charge(std::uint64_t file_tag, std::size_t bytes) {
    const std::uint64_t cost = bytes + kWaitingChunkOverhead;
    auto& budget = store_.memory();
    const std::uint64_t allowance =
        budget.limit() != 0 ? kWaitingBeyondBudget : kWaitingWithoutBudget;
    if (budget.try_take_waiting(cost, allowance)) {
        waiting_ += cost;
        return;
    }
    std::string what = fmt::format("file tag {} before its FILE_BEGIN", file_tag);
    if (auto it = files_.find(file_tag); it != files_.end())
        if (auto s = snapshots_.find(it->second.snapshot_tag); s != snapshots_.end())
            what = fmt::format("snapshot '{}' file {}", s->second.snapshot->id(),
                               it->second.builder->name());
    const std::string limit =
        budget.limit() != 0 ? fmt::format("the memory budget of {} bytes plus {}", budget.limit(),
                                          kWaitingBeyondBudget)
                            : fmt::format("{} bytes (no memory budget)", kWaitingWithoutBudget);
    throw wire::ProtocolError(fmt::format(
        "DATA_AT chunk of {} bytes for {} refused: chunks waiting for earlier bytes or their "
        "FILE_BEGIN would hold more than {} (this session holds {} bytes of them)",
        bytes, what, limit, waiting_));
}

void SessionReceiver::wait_release(std::size_t bytes) noexcept {
    const std::uint64_t cost = std::min<std::uint64_t>(bytes + kWaitingChunkOverhead, waiting_);
    waiting_ -= cost;
    store_.memory().give_back_waiting(cost);
}

void SessionReceiver::wait_release_all() noexcept {
    store_.memory().give_back_waiting(waiting_);
    waiting_ = 0;
}

}  // namespace imgx::cached
