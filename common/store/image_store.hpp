// All snapshots a daemon holds, keyed by snapshot id; each holds its files keyed by name.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "store/snapshot.hpp"
#include "util/async_event.hpp"

namespace imgx::store {

// Where a store keeps image bytes in memory and beyond it (img-cached's spool_dir,
// memory_budget_mib; its state_dir is a SnapshotArchive given beside these).
struct StoreSettings {
    std::string spool_dir;                  // without an archive: where bytes beyond the budget go
    std::uint64_t memory_budget_bytes = 0;  // 0: no limit
};

class ImageStore {
  public:
    // Everything in memory, without a limit (img-proxyd's kept images; tests).
    explicit ImageStore(const boost::asio::any_io_executor& ex);
    // With an archive (img-cached's state directory), loads the complete snapshots kept there
    // and persists every new dump through it. Throws std::runtime_error if the spool directory
    // cannot be used.
    ImageStore(const boost::asio::any_io_executor& ex, const StoreSettings& settings,
               std::unique_ptr<SnapshotArchive> archive = nullptr);

    // Starts a new dump of `id`, replacing any earlier one. A replaced snapshot that was still
    // receiving fails; readers already holding a replaced complete snapshot keep reading it.
    // Its generation is one more than the last dump of `id` since the store was made (also
    // after a drop); a snapshot loaded from the state directory is generation 1.
    std::shared_ptr<Snapshot> begin(const std::string& id, const std::string& protocol,
                                    ServePolicy policy = ServePolicy::per_file);

    // The current snapshot of `id`, or null.
    std::shared_ptr<Snapshot> find(const std::string& id) const;

    // Waits until a snapshot of `id` exists (a restore may start before its dump).
    boost::asio::awaitable<std::shared_ptr<Snapshot>> wait_for(
        std::string id);  // by value: a coroutine

    // Forgets `id` (and its copy on disk); a snapshot still receiving fails. False if unknown.
    // `id` leaves every chain, and a chain none of whose ids is held any more is forgotten.
    bool drop(const std::string& id);

    std::vector<std::shared_ptr<Snapshot>> all() const;

    // img-remote chains: the ordered snapshot ids CRIU pulls, by chain name.
    void set_chain(const std::string& chain, std::vector<std::string> ids);
    // Null if the chain is unknown.
    const std::vector<std::string>* chain(const std::string& chain) const;
    // Waits until something in the store changes (a snapshot begins, is dropped, a chain moves).
    boost::asio::awaitable<void> wait_change() { co_await changed_.wait(); }
    [[nodiscard]] std::uint64_t bytes_held() const;
    [[nodiscard]] const MemoryBudget& memory() const noexcept { return *budget_; }
    [[nodiscard]] MemoryBudget& memory() noexcept { return *budget_; }
    // The blocks that received files keep their bytes in. Free blocks are kept up to the memory
    // budget; without a budget all are kept (never more than the most ever in use at once).
    [[nodiscard]] BlockPool& blocks() noexcept { return *blocks_; }
    [[nodiscard]] const BlockPool& blocks() const noexcept { return *blocks_; }

  private:
    void load_state();
    // Takes `id` out of every chain's list of ids.
    void forget_in_chains(const std::string& id);
    // Forgets every chain none of whose ids names a snapshot the store holds.
    void prune_chains();

    boost::asio::any_io_executor ex_;
    std::shared_ptr<MemoryBudget> budget_;
    std::shared_ptr<BlockPool> blocks_;
    std::string spool_dir_;
    std::unique_ptr<SnapshotArchive> archive_;  // null: nothing persisted
    std::map<std::string, std::shared_ptr<Snapshot>, std::less<>> snapshots_;
    std::map<std::string, std::vector<std::string>, std::less<>> chains_;
    std::map<std::string, std::uint64_t, std::less<>>
        generations_;  // the last one given to each id
    AsyncEvent changed_;
};

}  // namespace imgx::store
