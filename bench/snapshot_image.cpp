// Generating snapshot content once, before anything is timed.
#include "snapshot_image.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

#include "store/block_pool.hpp"
#include "util/unique_fd.hpp"

namespace imgx::bench {

namespace {

// xorshift64*: fast, and its output does not compress, like real memory pages rarely do well.
struct XorShift {
    std::uint64_t state;
    std::uint64_t next() noexcept {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return state * 0x2545F4914F6CDD1DULL;
    }
};

// Bytes of one pagemap entry (a PagemapEntry: vaddr + nr_pages + flags, protobuf-framed).
constexpr std::size_t kPagemapEntryBytes = 16;
// CRIU writes one pagemap entry per run of contiguous pages; assume runs of 4 MiB.
constexpr std::size_t kPagesPerPagemapEntryBytes = 4 << 20;

// Has the kernel write every byte of [data, data + bytes) once; best effort.
void kernel_touch(char* data, std::size_t bytes) {
    const UniqueFd zero(::open("/dev/zero", O_RDONLY | O_CLOEXEC));
    if (zero) store::write_zeros_from_kernel(zero.get(), data, bytes);
}

}  // namespace

Arena::Arena(std::size_t bytes) : size_(bytes) {
    if (bytes == 0) return;
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    data_ = static_cast<char*>(p);
    // Starting a daemon forks img-bench; without this, fork would write-protect every page for
    // copy-on-write and the first write after it would fault each page in again, on the clock.
    ::madvise(data_, bytes, MADV_DONTFORK);
    // On these VMs the kernel's first copy into a page through this mapping (a restore's read()
    // from a pipe) is slow even when the page is resident and written from user space already, so
    // the kernel writes every page once here (img-cached's prefault does the same, see
    // common/store/block_pool.cpp). Then writing makes every page our own (a non-zero pattern, so
    // nothing may treat them as free zeros).
    kernel_touch(data_, bytes);
    std::memset(data_, 0x5a, bytes);
}

Arena::Arena(Arena&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

Arena::~Arena() {
    if (data_) ::munmap(data_, size_);
}

SnapshotImage::SnapshotImage(std::string id, std::vector<FileSize> files, std::uint64_t seed)
    : id_(std::move(id)), arena_([&] {
          std::size_t total = 0;
          for (const auto& f : files) total += f.size;
          return Arena(total);
      }()) {
    std::size_t offset = 0;
    for (auto& f : files) {
        files_.push_back({std::move(f.name), offset, f.size});
        offset += f.size;
    }
    total_ = offset;
    XorShift rng{seed | 1};
    auto* words = reinterpret_cast<std::uint64_t*>(arena_.data());
    const std::size_t word_count = total_ / sizeof(std::uint64_t);
    for (std::size_t i = 0; i < word_count; ++i) words[i] = rng.next();
    for (std::size_t i = word_count * sizeof(std::uint64_t); i < total_; ++i)
        arena_.data()[i] = static_cast<char>(rng.next());
}

std::size_t SnapshotImage::largest_file() const noexcept {
    std::size_t largest = 0;
    for (const auto& f : files_) largest = std::max(largest, f.size);
    return largest;
}

const std::vector<std::string>& SnapshotImage::never_written() {
    static const std::vector<std::string> kNames = {"ipcns-var-11.img", "netns-ct-12.img",
                                                    "timens-0.img"};
    return kNames;
}

SnapshotImage make_process_image(std::string id, std::size_t pages_bytes, std::uint64_t seed) {
    const std::size_t pagemap_entries =
        std::max<std::size_t>(1, pages_bytes / kPagesPerPagemapEntryBytes);
    // Roughly what CRIU writes for one small process, in its order; pagemap and pages are open
    // together. inventory.img comes last: CRIU writes it only once the dump has succeeded, and
    // the daemons fail a stream dump without it.
    std::vector<FileSize> files = {
        {"pstree.img", 34},
        {"core-1.img", 3140},
        {"mm-1.img", 1830},
        {"pagemap-1.img", 12 + pagemap_entries * kPagemapEntryBytes},
        {"pages-1.img", pages_bytes},
        {"fdinfo-2.img", 180},
        {"files.img", 1210},
        {"fs-1.img", 22},
        {"ids-1.img", 46},
        {"tty-info.img", 0},  // an empty image exists, unlike a missing one
        {"inventory.img", 58},
    };
    return SnapshotImage(std::move(id), std::move(files), seed);
}

SnapshotImage make_many_small_files_image(std::string id, std::size_t count, std::size_t min_bytes,
                                          std::size_t max_bytes, std::uint64_t seed) {
    XorShift rng{seed | 1};
    std::vector<FileSize> files;
    files.reserve(count);
    for (std::size_t i = 0; i + 1 < count; ++i) {
        const std::size_t size = min_bytes + rng.next() % (max_bytes - min_bytes + 1);
        files.push_back({"core-" + std::to_string(1000 + i) + ".img", size});
    }
    files.push_back({"inventory.img", 58});  // last, as CRIU writes it on success
    return SnapshotImage(std::move(id), std::move(files), seed + 1);
}

SnapshotImage make_process_tree_image(std::string id, std::size_t processes,
                                      std::size_t pages_bytes, std::uint64_t seed) {
    XorShift rng{seed | 1};
    auto between = [&rng](std::size_t low, std::size_t high) {
        return low + rng.next() % (high - low + 1);
    };
    // Per process, in CRIU's order: a few small files, then pagemap and pages (open together).
    std::vector<FileSize> files = {{"pstree.img", 24 * processes}};
    for (std::size_t i = 0; i < processes; ++i) {
        const std::string pid = std::to_string(1 + i);
        files.push_back({"core-" + pid + ".img", between(3000, 5000)});
        files.push_back({"mm-" + pid + ".img", between(1000, 2500)});
        files.push_back({"fdinfo-" + pid + ".img", between(500, 1200)});
        files.push_back({"ids-" + pid + ".img", between(500, 800)});
        files.push_back({"fs-" + pid + ".img", between(500, 600)});
        files.push_back({"pagemap-" + pid + ".img", 12 + kPagemapEntryBytes * between(4, 24)});
        files.push_back({"pages-" + pid + ".img", pages_bytes});
    }
    files.push_back({"files.img", between(1000, 5000)});
    files.push_back({"inventory.img", 58});  // last, as CRIU writes it on success
    return SnapshotImage(std::move(id), std::move(files), seed + 1);
}

}  // namespace imgx::bench
