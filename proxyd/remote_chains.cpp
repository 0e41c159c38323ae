// img-remote chain book-keeping on the proxy.
#include "remote_chains.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "proxy_metrics.hpp"
#include "util/log.hpp"

namespace imgx::proxyd {

namespace asio = boost::asio;

RemoteChains::RemoteChains(const asio::any_io_executor& ex, SnapshotLink& link,
                           SnapshotRegistry& registry, std::uint64_t memory_budget)
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

std::uint64_t RemoteChains::record_push(const std::string& chain_name, const std::string& id) {
    // An id lives in one chain: pushing it on another chain moves it there.
    std::string holder;
    if (Chain* other = chain_holding(id, &holder); other && holder != chain_name) {
        std::erase(other->ids, id);
        abort_push(other->pushed[id], "its snapshot id was pushed on another chain");
        other->pushed.erase(id);
    }
    Chain& chain = chains_[chain_name];
    if (chain.serial == 0) chain.serial = ++chain_serials_;
    std::shared_ptr<OutgoingSnapshot> replaced;
    if (std::find(chain.ids.begin(), chain.ids.end(), id) != chain.ids.end()) {
        // Replaces the old images: a dump of the same -D was retried. The old dump is aborted
        // once this push is announced (an old push never announced replaced nothing on the cache).
        const Pushed& old_push = chain.pushed[id];
        replaced = old_push.outgoing ? old_push.outgoing : old_push.replaced;
        if (auto old = kept_.find(id)) held_ -= std::min(held_, old->byte_count());
        spdlog::info("snapshot id '{}' pushed again on chain '{}': its earlier images are replaced",
                     id, chain_name);
    } else {
        chain.ids.push_back(id);
    }
    kept_.begin(id, "remote");
    chain.pushed[id] =
        Pushed{++pushes_, nullptr, std::move(replaced)};  // writes wait for the announcement
    changed_.notify();
    return pushes_;
}

asio::awaitable<void> RemoteChains::announce(const std::string& chain_name, const std::string& id,
                                             std::uint64_t push) {
    const std::vector<std::string> ids = this->ids(chain_name);
    // The chain may have ended, been dropped or pushed this id again while we waited for the link:
    // then nothing is announced.
    auto still_current = [this, &id, push] {
        Chain* now = chain_holding(id);
        return now && now->pushed[id].push == push;
    };
    auto snapshot = co_await link_.begin_snapshot(id, "remote", chain_name, ids, still_current);
    if (!snapshot) co_return;
    registry_.track(snapshot);
    if (!still_current()) {
        if (!snapshot->settled())
            link_.abort_snapshot(snapshot, "replaced or dropped while it was announced");
        co_return;
    }
    Pushed& pushed = chain_holding(id)->pushed[id];  // still_current(): the chain holds `id`
    pushed.outgoing = snapshot;
    if (auto old = std::exchange(pushed.replaced, nullptr); old && !old->settled())
        link_.abort_snapshot(old, "replaced by a new push of the same snapshot id");
    changed_.notify();
    if (snapshot->settled())
        log_error({.snapshot = id}, "dump of snapshot '{}' refused: {}", id, snapshot->error());
    else
        log_info({.snapshot = id}, "snapshot '{}' begins: pushed on chain '{}' (position {} of {})",
                 id, chain_name, std::find(ids.begin(), ids.end(), id) - ids.begin() + 1,
                 ids.size());
}

std::vector<std::string> RemoteChains::ids(const std::string& chain) const {
    auto it = chains_.find(chain);
    return it == chains_.end() ? std::vector<std::string>{} : it->second.ids;
}

asio::awaitable<WriteTarget> RemoteChains::for_write(const std::string& chain_name,
                                                     const std::string& id) {
    // The write belongs to the push current when it arrives. One still being announced to the
    // cache has no snapshot yet: wait for it, unless a newer push replaces it meanwhile. Every
    // co_await may see the chain dropped (img-ctl drop), so the chain is looked up after each.
    std::uint64_t push = 0;
    if (Chain* chain = chain_holding(id)) {
        push = chain->pushed[id].push;
    } else {
        spdlog::warn("write for snapshot '{}' without a push first; pushing it on chain '{}'", id,
                     chain_name);
        push = record_push(chain_name, id);
        co_await announce(chain_name, id, push);
    }
    for (;;) {
        Chain* chain = chain_holding(id);
        const char* gone = nullptr;  // no ?: in coroutines (gcc 12)
        if (!chain)
            gone = "its chain was dropped";
        else if (chain->pushed[id].push != push)
            gone = "its push was replaced by a newer one";
        if (gone) {
            auto failed = std::make_shared<OutgoingSnapshot>(ex_, id, "remote", 0, 0);
            failed->mark_failed(gone);
            co_return WriteTarget{std::move(failed), nullptr};
        }
        if (auto snapshot = chain->pushed[id].outgoing)
            co_return WriteTarget{std::move(snapshot), kept_.find(id)};
        co_await changed_.wait();
    }
}

bool RemoteChains::current(const WriteTarget& target) {
    return target.kept && kept_.find(target.kept->id()) == target.kept;
}

void RemoteChains::write_started(const std::string& id, const std::string& name) {
    writing_.emplace(id, name);
}

void RemoteChains::write_abandoned(const std::string& id, const std::string& name) {
    if (auto it = writing_.find({id, name}); it != writing_.end()) writing_.erase(it);
    changed_.notify();
}

void RemoteChains::write_ended(const WriteTarget& target, const std::string& name,
                               std::shared_ptr<const store::ImageFile> file,
                               std::uint64_t reserved) {
    writing_.erase(writing_.find({target.outgoing->id(), name}));
    if (file && current(target)) {
        if (std::shared_ptr<const store::ImageFile> old;
            target.kept->lookup(name, &old) == store::FileLookup::present)
            held_ -= std::min(held_, old->size);
        target.kept->add_file(std::move(file));
    } else {
        held_ -= std::min(held_, reserved);
    }
    changed_.notify();
}

bool RemoteChains::reserve(const std::string& id, std::uint64_t bytes) {
    if (held_ + bytes <= budget_) {
        held_ += bytes;
        return true;
    }
    ++proxy_metrics().errors.budget;
    fail_chain_of(
        id,
        fmt::format("img-remote chain memory budget of {} MiB exceeded (img-proxyd --chain-memory)",
                    budget_ >> 20));
    return false;
}

asio::awaitable<ParentRead> RemoteChains::read_parent(const std::string& id,
                                                      const std::string& name) {
    for (;;) {
        auto kept = kept_.find(id);
        if (!kept || kept->state() == store::SnapshotState::failed) {
            if (kept) co_return ParentRead{ParentRead::Answer::failed, nullptr};
            co_return ParentRead{ParentRead::Answer::absent, nullptr};
        }
        std::shared_ptr<const store::ImageFile> file;
        if (kept->lookup(name, &file) == store::FileLookup::present &&
            !writing_.contains({id, name}))
            co_return ParentRead{ParentRead::Answer::present, std::move(file)};
        // Spec 3.10 item 7: absent means ENOENT at once, unless the image is still arriving.
        if (!writing_.contains({id, name}))
            co_return ParentRead{ParentRead::Answer::absent, nullptr};
        co_await changed_.wait();
    }
}

asio::awaitable<void> RemoteChains::finish(const std::string& chain_name) {
    auto it = chains_.find(chain_name);
    if (it == chains_.end()) {
        spdlog::warn("dump finish on chain '{}', which has no pushed snapshot; ignored",
                     chain_name);
        co_return;
    }
    // Spec 3.10 item 8: CRIU closed its pipes, but up to a pipe's worth may still be unread.
    // A push still being announced must reach img-cached before the chain ends.
    // A write of an id no chain holds yet is about to push it implicitly (for_write).
    auto busy = [&] {
        for (const auto& [id, name] : writing_)
            if (std::find(it->second.ids.begin(), it->second.ids.end(), id) !=
                    it->second.ids.end() ||
                !chain_holding(id))
                return true;
        for (const auto& [id, pushed] : it->second.pushed)
            if (!pushed.outgoing) return true;
        return false;
    };
    const std::uint64_t serial = it->second.serial;
    while (busy()) {
        co_await changed_.wait();
        it = chains_.find(chain_name);
        // Dropped meanwhile, perhaps begun anew by a later push: that chain is not ours to end.
        if (it == chains_.end() || it->second.serial != serial) co_return;
    }
    for (const auto& id : it->second.ids) {
        auto snapshot = it->second.pushed[id].outgoing;
        if (!snapshot || snapshot->settled()) continue;
        link_.end_snapshot(snapshot, static_cast<std::uint32_t>(snapshot->files()),
                           snapshot->bytes_read());
    }
    spdlog::info("chain '{}' finished: {} snapshot(s) sent to img-cached ({})", chain_name,
                 it->second.ids.size(), fmt::join(it->second.ids, ", "));
    forget_chain(chain_name);
}

void RemoteChains::fail_chain_of(const std::string& id, const std::string& reason) {
    std::string name;
    Chain* chain = chain_holding(id, &name);
    if (!chain) return;
    spdlog::error("chain '{}' failed: {}", name, reason);
    for (auto& [sid, pushed] : chain->pushed) abort_push(pushed, reason);
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

void RemoteChains::abort_push(Pushed& pushed, const std::string& reason) {
    for (auto* snapshot : {&pushed.outgoing, &pushed.replaced})
        if (*snapshot && !(*snapshot)->settled()) link_.abort_snapshot(*snapshot, reason);
    pushed.replaced = nullptr;
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
