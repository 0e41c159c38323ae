// A generated checkpoint image held in memory: file names, sizes and pseudo-random content.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace imgx::bench {

// Anonymous memory touched page by page when created, so that timed code never faults it in.
class Arena {
  public:
    explicit Arena(std::size_t bytes);
    Arena(Arena&& other) noexcept;
    Arena& operator=(Arena&&) = delete;
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;
    ~Arena();

    [[nodiscard]] char* data() const noexcept { return data_; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

  private:
    char* data_ = nullptr;
    std::size_t size_ = 0;
};

// One image file of a snapshot: where its bytes sit in the snapshot's arena.
struct ImageEntry {
    std::string name;
    std::size_t offset = 0;
    std::size_t size = 0;
};

struct FileSize {
    std::string name;
    std::size_t size;
};

// A snapshot as CRIU would dump it: files in the order CRIU opens them, all bytes in one arena.
class SnapshotImage {
  public:
    // Fills the content from an xorshift generator seeded with `seed` (incompressible, repeatable).
    SnapshotImage(std::string id, std::vector<FileSize> files, std::uint64_t seed);

    [[nodiscard]] const std::string& id() const noexcept { return id_; }
    [[nodiscard]] const std::vector<ImageEntry>& files() const noexcept { return files_; }
    [[nodiscard]] const char* bytes(const ImageEntry& entry) const noexcept {
        return arena_.data() + entry.offset;
    }
    [[nodiscard]] const Arena& arena() const noexcept { return arena_; }
    [[nodiscard]] std::size_t total_bytes() const noexcept { return total_; }
    [[nodiscard]] std::size_t largest_file() const noexcept;

    // Names a restore asks for that the dump never wrote (CRIU does this; the answer must be "no").
    [[nodiscard]] static const std::vector<std::string>& never_written();

  private:
    std::string id_;
    std::vector<ImageEntry> files_;
    std::size_t total_ = 0;
    Arena arena_;
};

// One process with `pages_bytes` of memory: a pages image and the small files around it.
SnapshotImage make_process_image(std::string id, std::size_t pages_bytes, std::uint64_t seed);

// `count` small files of `min_bytes`..`max_bytes` each (sizes drawn from `seed`).
SnapshotImage make_many_small_files_image(std::string id, std::size_t count, std::size_t min_bytes,
                                          std::size_t max_bytes, std::uint64_t seed);

// A process tree dumped by one CRIU: `processes` processes of about 7 files each (five of
// 0.5-5 KB, a pagemap and a pages image of `pages_bytes`), plus pstree, files and inventory.
SnapshotImage make_process_tree_image(std::string id, std::size_t processes,
                                      std::size_t pages_bytes, std::uint64_t seed);

}  // namespace imgx::bench
