// Snapshot state and the rules for what a reader may be told.
#include "store/snapshot.hpp"

#include <fmt/format.h>

#include <utility>

namespace imgx::store {

std::string_view state_name(SnapshotState state) {
    switch (state) {
        case SnapshotState::receiving:
            return "receiving";
        case SnapshotState::complete:
            return "complete";
        case SnapshotState::failed:
            return "failed";
    }
    return "unknown";
}

Snapshot::Snapshot(const boost::asio::any_io_executor& ex, std::string id, std::string protocol,
                   ServePolicy policy)
    : id_(std::move(id)),
      protocol_(std::move(protocol)),
      policy_(policy),
      started_(std::chrono::steady_clock::now()),
      changed_(ex) {}

void Snapshot::use_storage(FileStorage base, std::unique_ptr<SnapshotSink> disk) {
    storage_ = std::move(base);
    storage_.owner = fmt::format("snapshot '{}'", id_);
    disk_ = std::move(disk);
}

void Snapshot::set_chain(std::string chain, std::vector<std::string> ids) {
    chain_ = std::move(chain);
    chain_ids_ = std::move(ids);
}

std::unique_ptr<ImageFileBuilder> Snapshot::new_file(const std::string& name) {
    FileStorage storage = storage_;
    if (disk_ && state_ == SnapshotState::receiving) {
        try {
            storage.persist = disk_->open_file(storage.owner, name);
        } catch (const StorageError& e) {
            mark_failed(e.what());
        }
    }
    return std::make_unique<ImageFileBuilder>(name, std::move(storage));
}

void Snapshot::add_file(std::shared_ptr<const ImageFile> file) {
    if (state_ != SnapshotState::receiving) return;
    if (disk_) {
        try {
            disk_->keep(storage_.owner, *file);
        } catch (const StorageError& e) {
            mark_failed(e.what());
            return;
        }
    }
    auto& slot = files_[file->name];
    if (slot)
        bytes_ -= slot->size;
    else
        ++file_count_;
    bytes_ += file->size;
    slot = std::move(file);
    changed_.notify();
}

void Snapshot::mark_complete() {
    if (state_ != SnapshotState::receiving) return;
    if (disk_) {
        Manifest manifest{id_, protocol_, chain_, chain_ids_, {}};
        for (const auto& [name, file] : files_)
            manifest.files.push_back({name, file->size, file->xxh3});
        try {
            disk_->commit(storage_.owner, manifest);
        } catch (const StorageError& e) {
            mark_failed(e.what());
            return;
        }
    }
    state_ = SnapshotState::complete;
    settled_ = std::chrono::steady_clock::now();
    changed_.notify();
}

void Snapshot::mark_failed(std::string reason) {
    if (state_ != SnapshotState::receiving) return;
    state_ = SnapshotState::failed;
    error_ = std::move(reason);
    // Nothing of a failed snapshot is ever served: free its memory and disk at once (readers
    // already writing a file hold it).
    files_.clear();
    if (disk_) disk_->remove();
    disk_.reset();
    settled_ = std::chrono::steady_clock::now();
    changed_.notify();
    if (auto hook = std::exchange(on_failed_, nullptr)) hook();
}

FileLookup Snapshot::lookup(const std::string& name, std::shared_ptr<const ImageFile>* file) const {
    // A failed snapshot serves nothing: a file of it may be fine, but the restore as a whole
    // would mix a broken dump with good pieces.
    if (state_ == SnapshotState::failed) return FileLookup::failed;
    if (policy_ == ServePolicy::whole_snapshot && state_ != SnapshotState::complete)
        return FileLookup::pending;
    auto it = files_.find(name);
    if (it != files_.end()) {
        if (file) *file = it->second;
        return FileLookup::present;
    }
    return state_ == SnapshotState::complete ? FileLookup::absent : FileLookup::pending;
}

boost::asio::awaitable<FileLookup> Snapshot::wait_file(std::string name,
                                                       std::shared_ptr<const ImageFile>* file) {
    for (;;) {
        auto answer = lookup(name, file);
        if (answer != FileLookup::pending) co_return answer;
        co_await changed_.wait();
    }
}

boost::asio::awaitable<SnapshotState> Snapshot::wait_settled() {
    while (state_ == SnapshotState::receiving) co_await changed_.wait();
    co_return state_;
}

}  // namespace imgx::store
