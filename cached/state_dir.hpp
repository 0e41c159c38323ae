// img-cached's state directory: complete snapshots kept on disk across restarts.
//
// Layout (KEY is the snapshot id made safe as a file name, with a hash of the id; the id itself
// is in the manifest):
//   STATE/snapshots/KEY/manifest, STATE/snapshots/KEY/images/NAME   complete, verified snapshots
//   STATE/partial/KEY-PID-N/{id, incoming/K, images/NAME}           snapshots still arriving
//   STATE/bad/KEY-TIME/                                             set aside at start-up
// A snapshot becomes complete by one rename(2) of its partial directory, after every file, the
// manifest and the directories were flushed; a crash leaves either a partial directory (removed
// at the next start) or a complete one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "store/image_file.hpp"
#include "store/manifest.hpp"
#include "store/snapshot_archive.hpp"

namespace imgx::cached {

using store::BackingFile;
using store::ImageFile;
using store::LoadedSnapshot;
using store::Manifest;

// One snapshot's directory: partial while it arrives, complete once committed.
class SnapshotDir : public store::SnapshotSink {
  public:
    // A directory at `path` that commit() moves to `final_path`.
    SnapshotDir(std::string path, std::string final_path);
    SnapshotDir(const SnapshotDir&) = delete;
    SnapshotDir& operator=(const SnapshotDir&) = delete;

    // A new file of the snapshot: an empty file under incoming/. Throws StorageError.
    std::shared_ptr<BackingFile> open_file(const std::string& owner,
                                           const std::string& name) override;
    // A verified file: flushed, then moved to images/NAME (replacing an earlier file of that
    // name). Throws StorageError.
    void keep(const std::string& owner, const ImageFile& file) override;
    // Every file arrived: writes and flushes the manifest and renames the directory to its final
    // place (replacing what is there). Throws StorageError.
    void commit(const std::string& owner, const Manifest& manifest) override;
    // Deletes the directory, partial or complete; failures are logged, not thrown.
    void remove() noexcept override;

    [[nodiscard]] const std::string& path() const noexcept { return path_; }

  private:
    std::string path_;
    std::string final_path_;
    std::uint64_t incoming_ = 0;
};

class StateDir : public store::SnapshotArchive {
  public:
    // Creates the directory and its sub-directories if needed. Throws std::runtime_error.
    explicit StateDir(std::string root);

    // Start-up: removes partial directories, verifies each complete snapshot against its
    // manifest (sizes and checksums recomputed) and returns those that match; one that does not
    // is moved to bad/ and never served. Every decision is logged.
    std::vector<LoadedSnapshot> load() override;

    // A new partial directory for a dump of `id`. Throws StorageError.
    std::unique_ptr<store::SnapshotSink> create(const std::string& id) override;

    // Removes the complete copy of `id`, if there is one (a newer dump began, or a drop).
    void forget(std::string_view id) override;

    // Counts of what load() did, for the metrics.
    std::uint64_t loaded = 0;
    std::uint64_t discarded = 0;
    std::uint64_t set_aside = 0;

    [[nodiscard]] const std::string& root() const noexcept { return root_; }

  private:
    void set_aside_bad(const std::string& path, const std::string& why);

    std::string root_;
    std::uint64_t created_ = 0;
};

// The directory name for snapshot id `id` (safe characters, bounded length, unique by a hash).
std::string snapshot_dir_key(std::string_view id);

}  // namespace imgx::cached
