// Where a store persists snapshots, as interfaces: the store itself never touches a disk.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/image_file.hpp"
#include "store/manifest.hpp"

namespace imgx::store {

// One snapshot's copy outside memory while it arrives and once it is complete (img-cached's
// state directory implements it; img-proxyd keeps nothing). Errors are StorageError, naming
// `owner` (the snapshot), the file and the place.
class SnapshotSink {
  public:
    virtual ~SnapshotSink() = default;
    // A new file of the snapshot: every byte of it is also written to the returned file.
    virtual std::shared_ptr<BackingFile> open_file(const std::string& owner,
                                                   const std::string& name) = 0;
    // A verified file: kept under its name, replacing an earlier file of that name.
    virtual void keep(const std::string& owner, const ImageFile& file) = 0;
    // Every file arrived: the snapshot is kept as `manifest` says, safely before this returns.
    virtual void commit(const std::string& owner, const Manifest& manifest) = 0;
    // The snapshot failed or was replaced: its copy goes; failures are logged, not thrown.
    virtual void remove() noexcept = 0;
};

// A snapshot an archive kept from an earlier run.
struct LoadedSnapshot {
    Manifest manifest;
    std::vector<std::shared_ptr<const ImageFile>> files;  // every piece on disk
    std::unique_ptr<SnapshotSink> dir;
};

// Every snapshot a store persists.
class SnapshotArchive {
  public:
    virtual ~SnapshotArchive() = default;
    // Start-up: the complete snapshots kept earlier, each verified; everything else is let go.
    virtual std::vector<LoadedSnapshot> load() = 0;
    // The copy of a new dump of `id`. Throws StorageError.
    virtual std::unique_ptr<SnapshotSink> create(const std::string& id) = 0;
    // Removes the complete copy of `id`, if there is one (a newer dump began, or a drop).
    virtual void forget(std::string_view id) = 0;
};

}  // namespace imgx::store
