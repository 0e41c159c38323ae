// img-remote chain book-keeping on the proxy.
#include "remote_chains.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace imgx::proxyd {

namespace asio = boost::asio;

RemoteChains::RemoteChains(const asio::any_io_executor& ex, LinkClient& link, SnapshotRegistry& registry,
                           std::uint64_t memory_budget)
    : ex_(ex), link_(link), registry_(registry), budget_(memory_budget), kept_(ex), changed_(ex) {}

RemoteChains::Chain* RemoteChains::chain_holding(const std::string& id, std::string* name) {
    for (auto& [chain_name, chain] : chains_) {
        if (std::find(chain.ids.begin(), chain.ids.end(), id) != chain.ids.end()) {
            if (name) *name = chain_name;
            return &chain;
        }
    }
    return nullptr;
}

asio::awaitable<void> RemoteChains::push(const std::string& chain_name, const std::string& id) {
    // An id lives in one chain: pushing it on another chain moves it there.
    std::string holder;
    if (Chain* other = chain_holding(id, &holder); other && holder != chain_name) {
        std::erase(other->ids, id);
        other->outgoing.erase(id);
    }
    Chain& chain = chains_[chain_name];
    const bool again = std::find(chain.ids.begin(), chain.ids.end(), id) != chain.ids.end();
    if (again) {
        // Replaces the old images: a dump of the same -D was retried.
        if (auto old = chain.outgoing[id]; old && !old->settled())
            link_.abort_snapshot(old, "replaced by a new push of the same snapshot id");
        if (auto old = kept_.find(id)) held_ -= std::min(held_, old->byte_count());
        spdlog::info("snapshot id '{}' pushed again on chain '{}': its earlier images are replaced", id, chain_name);
    } else {
        chain.ids.push_back(id);
    }
    kept_.begin(id, "remote");
    chain.outgoing[id] = nullptr;  // pushed, announcement under way: writes wait for it
    changed_.notify();
    const std::vector<std::string> ids = chain.ids;
    auto snapshot = co_await link_.begin_snapshot(id, "remote", chain_name, ids);
    registry_.track(snapshot);
    // The chain may have ended or been dropped while we waited for the link.
    Chain* now = chain_holding(id);
    if (!now) {
        if (!snapshot->settled()) link_.abort_snapshot(snapshot, "its chain was dropped while it was announced");
        co_return;
    }
    now->outgoing[id] = snapshot;
    changed_.notify();
    if (snapshot->settled())
        spdlog::error("dump of snapshot '{}' refused: {}", id, snapshot->error());
    else
        spdlog::info("snapshot '{}' pushed on chain '{}' (position {} of {})", id, chain_name,
                     std::find(ids.begin(), ids.end(), id) - ids.begin() + 1, ids.size());
}

std::vector<std::string> RemoteChains::ids(const std::string& chain) const {
    auto it = chains_.find(chain);
    return it == chains_.end() ? std::vector<std::string>{} : it->second.ids;
}

asio::awaitable<std::shared_ptr<OutgoingSnapshot>> RemoteChains::for_write(const std::string& chain_name,
                                                                          const std::string& id) {
    if (!chain_holding(id)) {
        spdlog::warn("write for snapshot '{}' without a push first; pushing it on chain '{}'", id, chain_name);
        co_await push(chain_name, id);
    }
    // A push still being announced to the cache has no snapshot yet: wait for it.
    for (;;) {
        Chain* chain = chain_holding(id);
        if (!chain) {
            auto failed = std::make_shared<OutgoingSnapshot>(ex_, id, "remote", 0, 0);
            failed->mark_failed("its chain was dropped");
            co_return failed;
        }
        if (auto snapshot = chain->outgoing[id]) co_return snapshot;
        co_await changed_.wait();
    }
}

void RemoteChains::write_started(const std::string& id, const std::string& name) {
    writing_.emplace(id, name);
}

void RemoteChains::write_ended(const std::string& id, const std::string& name,
                               std::shared_ptr<const store::ImageFile> file, std::uint64_t reserved) {
    writing_.erase(writing_.find({id, name}));
    if (!file) held_ -= std::min(held_, reserved);
    if (file) {
        if (auto kept = kept_.find(id)) {
            if (std::shared_ptr<const store::ImageFile> old; kept->lookup(name, &old) == store::FileLookup::present)
                held_ -= std::min(held_, old->size);
            kept->add_file(std::move(file));
        }
    }
    changed_.notify();
}

bool RemoteChains::reserve(const std::string& id, std::uint64_t bytes) {
    if (held_ + bytes <= budget_) {
        held_ += bytes;
        return true;
    }
    fail_chain_of(id, fmt::format("img-remote chain memory budget of {} MiB exceeded (img-proxyd --chain-memory)",
                                  budget_ >> 20));
    return false;
}

asio::awaitable<ParentRead> RemoteChains::read_parent(const std::string& id, const std::string& name) {
    for (;;) {
        auto kept = kept_.find(id);
        if (!kept || kept->state() == store::SnapshotState::failed) {
            if (kept) co_return ParentRead{ParentRead::Answer::failed, nullptr};
            co_return ParentRead{ParentRead::Answer::absent, nullptr};
        }
        std::shared_ptr<const store::ImageFile> file;
        if (kept->lookup(name, &file) == store::FileLookup::present && !writing_.contains({id, name}))
            co_return ParentRead{ParentRead::Answer::present, std::move(file)};
        // Spec 3.10 item 7: absent means ENOENT at once, unless the image is still arriving.
        if (!writing_.contains({id, name})) co_return ParentRead{ParentRead::Answer::absent, nullptr};
        co_await changed_.wait();
    }
}

asio::awaitable<void> RemoteChains::finish(const std::string& chain_name) {
    auto it = chains_.find(chain_name);
    if (it == chains_.end()) {
        spdlog::warn("dump finish on chain '{}', which has no pushed snapshot; ignored", chain_name);
        co_return;
    }
    // Spec 3.10 item 8: CRIU closed its pipes, but up to a pipe's worth may still be unread.
    auto in_chain = [&] {
        for (const auto& [id, name] : writing_)
            if (std::find(it->second.ids.begin(), it->second.ids.end(), id) != it->second.ids.end()) return true;
        return false;
    };
    while (in_chain()) co_await changed_.wait();
    it = chains_.find(chain_name);
    if (it == chains_.end()) co_return;  // dropped meanwhile
    for (const auto& id : it->second.ids) {
        auto snapshot = it->second.outgoing[id];
        if (!snapshot || snapshot->settled()) continue;
        link_.end_snapshot(snapshot, static_cast<std::uint32_t>(snapshot->files()), snapshot->bytes_read());
    }
    spdlog::info("chain '{}' finished: {} snapshot(s) sent to img-cached ({})", chain_name, it->second.ids.size(),
                 fmt::join(it->second.ids, ", "));
    forget_chain(chain_name);
}

void RemoteChains::fail_chain_of(const std::string& id, const std::string& reason) {
    std::string name;
    Chain* chain = chain_holding(id, &name);
    if (!chain) return;
    spdlog::error("chain '{}' failed: {}", name, reason);
    for (auto& [sid, snapshot] : chain->outgoing)
        if (snapshot && !snapshot->settled()) link_.abort_snapshot(snapshot, reason);
    for (const auto& sid : chain->ids)
        if (auto kept = kept_.find(sid)) kept->mark_failed(reason);
    changed_.notify();
}

bool RemoteChains::drop(const std::string& id) {
    std::string name;
    if (!chain_holding(id, &name)) return false;
    fail_chain_of(id, "dropped by the operator");
    forget_chain(name);
    return true;
}

void RemoteChains::forget_chain(const std::string& name) {
    auto it = chains_.find(name);
    if (it == chains_.end()) return;
    for (const auto& id : it->second.ids) {
        if (auto kept = kept_.find(id)) held_ -= std::min(held_, kept->byte_count());
        kept_.drop(id);
    }
    chains_.erase(it);
    changed_.notify();
}

}  // namespace imgx::proxyd
