// One snapshot (one dump of one snapshot id): its files and whether more may come.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "store/image_file.hpp"
#include "store/snapshot_archive.hpp"
#include "util/async_event.hpp"

namespace imgx::store {

enum class SnapshotState {
    receiving,  // the dump is still sending; absent files may yet arrive
    complete,   // every file arrived and was verified; absent files will never exist
    failed,     // the dump or its transfer broke; nothing may be served as complete
};

std::string_view state_name(SnapshotState state);

// When a file may be served: as soon as it is verified (stream: CRIU reads what it wrote, and a
// restore may run alongside the dump), or only once the whole snapshot is complete (img-remote:
// a CRIU that dies mid-write leaves files that look complete; spec 3.10).
enum class ServePolicy { per_file, whole_snapshot };

// What a reader learns about one file.
enum class FileLookup { present, absent, pending, failed };

class Snapshot {
  public:
    Snapshot(const boost::asio::any_io_executor& ex, std::string id, std::string protocol,
             ServePolicy policy = ServePolicy::per_file);

    [[nodiscard]] const std::string& id() const noexcept { return id_; }
    [[nodiscard]] const std::string& protocol() const noexcept { return protocol_; }
    [[nodiscard]] SnapshotState state() const noexcept { return state_; }
    [[nodiscard]] const std::string& error() const noexcept { return error_; }
    // Which dump of its id this is (ImageStore numbers them); 0 outside a store.
    [[nodiscard]] std::uint64_t generation() const noexcept { return generation_; }
    void set_generation(std::uint64_t generation) noexcept { generation_ = generation; }

    // Where new files keep their bytes: `base` (memory budget, spool directory) and, for a
    // persisted snapshot, `disk` (img-cached: its partial directory in the state directory).
    void use_storage(FileStorage base, std::unique_ptr<SnapshotSink> disk);
    // img-remote: the chain this snapshot was pushed on, written to its manifest.
    void set_chain(std::string chain, std::vector<std::string> ids);
    // A builder for a new file of this snapshot. When its file cannot be created on disk, the
    // snapshot fails (the builder still takes bytes, for a caller that must consume them).
    std::unique_ptr<ImageFileBuilder> new_file(const std::string& name);

    // Adds a verified file; a later file of the same name replaces it (last complete wins).
    // Ignored unless receiving. A persisted file that cannot be kept fails the snapshot.
    void add_file(std::shared_ptr<const ImageFile> file);
    // receiving -> complete, once a persisted snapshot is safely on disk (otherwise failed).
    // Ignored unless receiving.
    void mark_complete();
    // receiving -> failed with a reason: its files are let go, its partial directory removed.
    // Ignored otherwise.
    void mark_failed(std::string reason);
    // Called once, at the end of mark_failed() (replaced, dropped, storage error, any reason): the
    // receiver of the dump lets go of the files it still builds for it. Empty: none.
    void on_failed(std::function<void()> hook) { on_failed_ = std::move(hook); }

    // The current answer for `name`; `file` is set when present.
    FileLookup lookup(const std::string& name,
                      std::shared_ptr<const ImageFile>* file = nullptr) const;
    // Waits until the answer for `name` is no longer pending. The snapshot must outlive the
    // wait (callers hold a shared_ptr); `name` is taken by value because this is a coroutine.
    boost::asio::awaitable<FileLookup> wait_file(std::string name,
                                                 std::shared_ptr<const ImageFile>* file);
    // Waits until the snapshot is complete or failed.
    boost::asio::awaitable<SnapshotState> wait_settled();

    [[nodiscard]] std::size_t file_count() const noexcept { return file_count_; }
    [[nodiscard]] std::uint64_t byte_count() const noexcept { return bytes_; }
    // Bytes of files still arriving, for progress reports.
    std::uint64_t bytes_in_flight = 0;
    std::size_t readers = 0;
    [[nodiscard]] std::chrono::steady_clock::time_point started() const noexcept {
        return started_;
    }
    [[nodiscard]] std::chrono::steady_clock::time_point settled() const noexcept {
        return settled_;
    }

  private:
    std::string id_;
    std::string protocol_;
    ServePolicy policy_;
    SnapshotState state_ = SnapshotState::receiving;
    std::uint64_t generation_ = 0;
    std::string error_;
    std::map<std::string, std::shared_ptr<const ImageFile>, std::less<>> files_;
    std::size_t file_count_ = 0;  // kept when a failure lets the files go
    std::uint64_t bytes_ = 0;
    FileStorage storage_;
    std::unique_ptr<SnapshotSink> disk_;  // null: not persisted
    std::string chain_;
    std::vector<std::string> chain_ids_;
    std::chrono::steady_clock::time_point started_;
    std::chrono::steady_clock::time_point settled_;
    AsyncEvent changed_;
    std::function<void()> on_failed_;
};

}  // namespace imgx::store
