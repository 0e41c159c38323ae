// The snapshot table.
#include "store/image_store.hpp"

namespace imgx::store {

ImageStore::ImageStore(const boost::asio::any_io_executor& ex) : ex_(ex), changed_(ex) {}

std::shared_ptr<Snapshot> ImageStore::begin(const std::string& id, const std::string& protocol, ServePolicy policy) {
    auto fresh = std::make_shared<Snapshot>(ex_, id, protocol, policy);
    auto& slot = snapshots_[id];
    if (slot) slot->mark_failed("replaced by a newer dump of the same snapshot id");
    slot = fresh;
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
    auto it = snapshots_.find(id);
    if (it == snapshots_.end()) return false;
    it->second->mark_failed("dropped by the operator");
    snapshots_.erase(it);
    changed_.notify();
    return true;
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
    for (const auto& [id, snapshot] : snapshots_) total += snapshot->byte_count() + snapshot->bytes_in_flight;
    return total;
}

}  // namespace imgx::store
