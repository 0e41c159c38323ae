// Keeping snapshots on disk: partial directories, commit by rename, verification at start-up.
#include "state_dir.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "store/file_ops.hpp"
#include "util/log.hpp"
#include "util/names.hpp"

namespace imgx::cached {

// The files of a snapshot and their errors are the store's types.
using namespace store;
namespace fs = std::filesystem;

namespace {

constexpr const char* kComplete = "snapshots";
constexpr const char* kPartial = "partial";
constexpr const char* kBad = "bad";
constexpr const char* kManifest = "manifest";
constexpr const char* kImages = "images";
constexpr const char* kIncoming = "incoming";
constexpr const char* kIdFile = "id";
// Ids can be whole paths (img-remote): the readable part of a directory name is cut here.
constexpr std::size_t kKeyReadableBytes = 64;

std::string errno_text() { return std::strerror(errno); }

[[noreturn]] void fail(const std::string& owner, std::string_view what, const std::string& path) {
    const std::string why = errno_text();
    throw StorageError(fmt::format("{}: cannot {} {}: {}", owner, what, path, why));
}

void make_dir(const std::string& owner, const std::string& path) {
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) fail(owner, "create directory", path);
}

// Flushes a directory's entries (a rename or a new file in it) to disk.
void sync_dir(const std::string& owner, const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd || ::fsync(fd.get()) != 0) fail(owner, "flush directory", path);
}

void write_file_synced(const std::string& owner, const std::string& path, const std::string& text) {
    UniqueFd fd(::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600));
    if (!fd) fail(owner, "create", path);
    if (!write_fully_at(fd.get(), text.data(), text.size(), 0) || ::fsync(fd.get()) != 0)
        fail(owner, "write", path);
}

std::string read_small_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) throw ManifestError("cannot read " + path);
    return text.str();
}

LoadedSnapshot load_complete(const fs::path& dir) {
    LoadedSnapshot out;
    out.manifest = parse_manifest(read_small_file((dir / kManifest).string()));
    if (snapshot_dir_key(out.manifest.id) != dir.filename().string())
        throw ManifestError(
            fmt::format("the manifest is for snapshot '{}', which belongs elsewhere",
                        printable(out.manifest.id)));
    for (const auto& expected : out.manifest.files) {
        const std::string path = (dir / kImages / expected.name).string();
        auto backing = std::make_shared<BackingFile>();
        backing->fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        backing->path = path;
        if (!backing->fd)
            throw ManifestError(fmt::format("cannot open {}: {}", path, errno_text()));
        if (auto problem = file_problem(backing->fd.get(), expected))
            throw ManifestError(fmt::format("file {}: {}", expected.name, *problem));
        auto file = std::make_shared<ImageFile>();
        file->name = expected.name;
        file->size = expected.size;
        file->xxh3 = expected.xxh3;
        if (expected.size > 0) {
            Segment whole;
            whole.size = expected.size;
            whole.backing = backing;
            file->segments.push_back(std::move(whole));
        }
        file->persisted = std::move(backing);
        out.files.push_back(std::move(file));
    }
    out.dir = std::make_unique<SnapshotDir>(dir.string(), dir.string());
    return out;
}

}  // namespace

std::string snapshot_dir_key(std::string_view id) {
    std::string key;
    for (char c : id.substr(0, kKeyReadableBytes)) {
        const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        key += safe ? c : '_';
    }
    return fmt::format("{}-{:016x}", key, XXH3_64bits(id.data(), id.size()));
}

SnapshotDir::SnapshotDir(std::string path, std::string final_path)
    : path_(std::move(path)), final_path_(std::move(final_path)) {}

std::shared_ptr<BackingFile> SnapshotDir::open_file(const std::string& owner,
                                                    const std::string& name) {
    auto file = std::make_shared<BackingFile>();
    file->path = fmt::format("{}/{}/{}", path_, kIncoming, ++incoming_);
    file->fd.reset(::open(file->path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600));
    if (!file->fd) fail(owner, fmt::format("create a file for {} at", name), file->path);
    return file;
}

void SnapshotDir::keep(const std::string& owner, const ImageFile& file) {
    if (!file.persisted) return;
    if (file_ops.fdatasync(file.persisted->fd.get()) != 0)
        fail(owner, fmt::format("flush {} to", file.name), file.persisted->path);
    const std::string final_name = fmt::format("{}/{}/{}", path_, kImages, file.name);
    if (file_ops.rename(file.persisted->path.c_str(), final_name.c_str()) != 0)
        fail(owner, fmt::format("move {} from {} to", file.name, file.persisted->path), final_name);
}

void SnapshotDir::commit(const std::string& owner, const Manifest& manifest) {
    write_file_synced(owner, path_ + "/" + kManifest, format_manifest(manifest));
    sync_dir(owner, path_ + "/" + kImages);
    sync_dir(owner, path_);
    // An older copy at the final place is swapped out in one step, then deleted.
    if (::renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, final_path_.c_str(), RENAME_NOREPLACE) !=
        0) {
        if (errno != EEXIST) fail(owner, fmt::format("move {} to", path_), final_path_);
        if (::renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, final_path_.c_str(), RENAME_EXCHANGE) !=
            0)
            fail(owner, fmt::format("swap {} with", path_), final_path_);
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    sync_dir(owner, fs::path(final_path_).parent_path().string());
    path_ = final_path_;
}

void SnapshotDir::remove() noexcept {
    std::error_code ec;
    fs::remove_all(path_, ec);
    if (ec) spdlog::warn("cannot remove {}: {}", path_, ec.message());
}

StateDir::StateDir(std::string root) : root_(std::move(root)) {
    const std::string owner = "state directory";
    make_dir(owner, root_);
    for (const char* sub : {kComplete, kPartial, kBad}) make_dir(owner, root_ + "/" + sub);
}

std::vector<LoadedSnapshot> StateDir::load() {
    std::vector<LoadedSnapshot> out;
    for (const auto& entry : fs::directory_iterator(root_ + "/" + kPartial)) {
        std::string id = "unknown";
        try {
            id = printable(read_small_file((entry.path() / kIdFile).string()));
        } catch (const std::exception&) {
        }
        log_warn({.snapshot = id},
                 "discarding partial snapshot '{}' left by an earlier run that stopped before its "
                 "dump ended: {}",
                 id, entry.path().string());
        std::error_code ec;
        fs::remove_all(entry.path(), ec);
        if (ec) spdlog::error("cannot remove {}: {}", entry.path().string(), ec.message());
        ++discarded;
    }
    for (const auto& entry : fs::directory_iterator(root_ + "/" + kComplete)) {
        try {
            auto snapshot = load_complete(entry.path());
            std::uint64_t bytes = 0;
            for (const auto& file : snapshot.files) bytes += file->size;
            log_info({.snapshot = snapshot.manifest.id},
                     "loaded snapshot '{}' from {}: {} files, {} bytes verified",
                     snapshot.manifest.id, entry.path().string(), snapshot.files.size(), bytes);
            out.push_back(std::move(snapshot));
            ++loaded;
        } catch (const std::exception& e) {
            set_aside_bad(entry.path().string(), e.what());
        }
    }
    return out;
}

void StateDir::set_aside_bad(const std::string& path, const std::string& why) {
    ++set_aside;
    const std::string to =
        fmt::format("{}/{}/{}-{}", root_, kBad, fs::path(path).filename().string(),
                    static_cast<long long>(std::time(nullptr)));
    if (::rename(path.c_str(), to.c_str()) == 0) {
        spdlog::error(
            "snapshot in {} does not match its manifest and is not served: {}; moved to {}", path,
            why, to);
        return;
    }
    std::error_code ec;
    fs::remove_all(path, ec);
    spdlog::error("snapshot in {} does not match its manifest and is not served: {}; removed it",
                  path, why);
}

std::unique_ptr<SnapshotSink> StateDir::create(const std::string& id) {
    const std::string owner = fmt::format("snapshot '{}'", id);
    const std::string key = snapshot_dir_key(id);
    const std::string path =
        fmt::format("{}/{}/{}-{}-{}", root_, kPartial, key, ::getpid(), ++created_);
    make_dir(owner, path);
    auto dir = std::make_unique<SnapshotDir>(path, fmt::format("{}/{}/{}", root_, kComplete, key));
    try {
        make_dir(owner, path + "/" + kIncoming);
        make_dir(owner, path + "/" + kImages);
        UniqueFd fd(
            ::open((path + "/" + kIdFile).c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600));
        if (!fd || !write_fully_at(fd.get(), id.data(), id.size(), 0))
            fail(owner, "write", path + "/" + kIdFile);
    } catch (...) {
        dir->remove();
        throw;
    }
    return dir;
}

void StateDir::forget(std::string_view id) {
    SnapshotDir(fmt::format("{}/{}/{}", root_, kComplete, snapshot_dir_key(id)), {}).remove();
}

}  // namespace imgx::cached
