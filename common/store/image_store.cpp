// The snapshot table.
#include "store/image_store.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

namespace imgx::store {

namespace {

// Free blocks beyond the budget would be memory the budget says the daemon must not hold.
std::shared_ptr<BlockPool> make_block_pool(std::uint64_t budget_bytes) {
    constexpr std::size_t kBlock = BlockPool::kDefaultBlockBytes;
    if (budget_bytes == 0) return std::make_shared<BlockPool>(kBlock, BlockPool::kNoBound);
    return std::make_shared<BlockPool>(kBlock, static_cast<std::size_t>(budget_bytes / kBlock));
}

}  // namespace

ImageStore::ImageStore(const boost::asio::any_io_executor& ex) : ImageStore(ex, StoreSettings{}) {}

ImageStore::ImageStore(const boost::asio::any_io_executor& ex, const StoreSettings& settings,
                       std::unique_ptr<SnapshotArchive> archive)
    : ex_(ex),
      budget_(std::make_shared<MemoryBudget>(settings.memory_budget_bytes)),
      blocks_(make_block_pool(settings.memory_budget_bytes)),
      spool_dir_(settings.spool_dir),
      archive_(std::move(archive)),
      changed_(ex) {
    if (!spool_dir_.empty() && !archive_) {
        // A spool directory that cannot be used is a start-up error, not a failed dump later.
        std::error_code ec;
        std::filesystem::create_directories(spool_dir_, ec);
        if (ec || ::access(spool_dir_.c_str(), W_OK | X_OK) != 0)
            throw std::runtime_error("spool directory " + spool_dir_ +
                                     " cannot be created or written to" +
                                     (ec ? ": " + ec.message() : std::string()));
    }
    if (archive_) load_state();
}

void ImageStore::load_state() {
    for (auto& loaded : archive_->load()) {
        const Manifest& manifest = loaded.manifest;
        const bool remote = manifest.protocol == "remote";
        auto snapshot = std::make_shared<Snapshot>(
            ex_, manifest.id, manifest.protocol,
            remote ? ServePolicy::whole_snapshot : ServePolicy::per_file);
        for (auto& file : loaded.files) snapshot->add_file(std::move(file));
        snapshot->mark_complete();
        snapshot->set_generation(generations_[manifest.id] = 1);
        snapshots_[manifest.id] = snapshot;
        // The latest push of a chain knows the longest list of its ids.
        if (!manifest.chain.empty()) {
            auto& ids = chains_[manifest.chain];
            if (manifest.chain_ids.size() > ids.size()) ids = manifest.chain_ids;
        }
    }
}

std::shared_ptr<Snapshot> ImageStore::begin(const std::string& id, const std::string& protocol,
                                            ServePolicy policy) {
    auto fresh = std::make_shared<Snapshot>(ex_, id, protocol, policy);
    fresh->set_generation(++generations_[id]);
    auto& slot = snapshots_[id];
    if (slot) slot->mark_failed("replaced by a newer dump of the same snapshot id");
    slot = fresh;
    FileStorage storage{budget_, nullptr, archive_ ? std::string() : spool_dir_};
    storage.pool = blocks_;
    std::unique_ptr<SnapshotSink> disk;
    std::string problem;
    if (archive_) {
        // From now on a restore gets the new dump, also after a restart: the older copy goes.
        archive_->forget(id);
        try {
            disk = archive_->create(id);
        } catch (const StorageError& e) {
            problem = e.what();
        }
    }
    fresh->use_storage(std::move(storage), std::move(disk));
    if (!problem.empty()) fresh->mark_failed(problem);
    changed_.notify();
    return fresh;
}

std::shared_ptr<Snapshot> ImageStore::find(const std::string& id) const {
    auto it = snapshots_.find(id);
    return it == snapshots_.end() ? nullptr : it->second;
}

boost::asio::awaitable<std::shared_ptr<Snapshot>> ImageStore::wait_for(std::string id) {
    for (;;) {
        if (auto found = find(id)) co_return found;
        co_await changed_.wait();
    }
}

bool ImageStore::drop(const std::string& id) {
    forget_in_chains(id);
    auto it = snapshots_.find(id);
    const bool known = it != snapshots_.end();
    if (known) {
        it->second->mark_failed("dropped by the operator");
        snapshots_.erase(it);
        if (archive_) archive_->forget(id);
    }
    prune_chains();
    changed_.notify();
    return known;
}

void ImageStore::forget_in_chains(const std::string& id) {
    for (auto& [name, ids] : chains_) std::erase(ids, id);
}

void ImageStore::prune_chains() {
    std::erase_if(chains_, [this](const auto& chain) {
        return std::none_of(chain.second.begin(), chain.second.end(),
                            [this](const std::string& id) { return snapshots_.contains(id); });
    });
}

std::vector<std::shared_ptr<Snapshot>> ImageStore::all() const {
    std::vector<std::shared_ptr<Snapshot>> out;
    for (const auto& [id, snapshot] : snapshots_) out.push_back(snapshot);
    return out;
}

void ImageStore::set_chain(const std::string& chain, std::vector<std::string> ids) {
    chains_[chain] = std::move(ids);
    changed_.notify();
}

const std::vector<std::string>* ImageStore::chain(const std::string& chain) const {
    auto it = chains_.find(chain);
    return it == chains_.end() ? nullptr : &it->second;
}

std::uint64_t ImageStore::bytes_held() const {
    std::uint64_t total = 0;
    for (const auto& [id, snapshot] : snapshots_)
        if (snapshot->state() != SnapshotState::failed)  // a failed snapshot let its files go
            total += snapshot->byte_count() + snapshot->bytes_in_flight;
    return total;
}

}  // namespace imgx::store
