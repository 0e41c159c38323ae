// img-remote chains on the proxy: pushed snapshot ids in order, the images kept for parent reads,
// and the end of a chain at the final dump's finish.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "snapshot_link.hpp"
#include "snapshot_registry.hpp"
#include "store/image_store.hpp"
#include "util/async_event.hpp"

namespace imgx::proxyd {

// What one image write goes to: the snapshot on the link and the kept copy for parent reads, both
// of the push that was current when the write began (a later push of the same id replaces them).
struct WriteTarget {
    std::shared_ptr<OutgoingSnapshot> outgoing;
    std::shared_ptr<store::Snapshot> kept;
};

// Answer for a dump-side read of an earlier snapshot's image.
struct ParentRead {
    enum class Answer { present, absent, failed } answer;
    std::shared_ptr<const store::ImageFile> file;
};

class RemoteChains {
  public:
    RemoteChains(const boost::asio::any_io_executor& ex, SnapshotLink& link,
                 SnapshotRegistry& registry, std::uint64_t memory_budget);
    // The memory for kept images (a reload may change it; what is held stays held).
    void set_memory_budget(std::uint64_t bytes) { budget_ = bytes; }

    // A push of `id` through an endpoint of chain `chain`: appends it (a chain that ended starts
    // anew; an id pushed again keeps its place and loses its old images). Takes effect at once for
    // every later connection; returns the push's number, for announce().
    std::uint64_t record_push(const std::string& chain, const std::string& id);
    // Announces push number `push` of `id` to img-cached (aborted there if a newer push replaced
    // it).
    boost::asio::awaitable<void> announce(const std::string& chain, const std::string& id,
                                          std::uint64_t push);

    // The ids CRIU pulls through an endpoint of `chain`, in push order (empty if none).
    std::vector<std::string> ids(const std::string& chain) const;

    // What a write of `id` goes to, pushing it implicitly on `chain` if CRIU did not.
    boost::asio::awaitable<WriteTarget> for_write(const std::string& chain, const std::string& id);
    // True while `target` is still the current push of its id.
    bool current(const WriteTarget& target);

    // Book-keeping around one image write (for finish, and for parent reads of images in flight).
    // A write counts from the moment its request is read: CRIU sends no answer to wait for, so
    // its finish may arrive while the write still waits for its push to be announced.
    void write_started(const std::string& id, const std::string& name);
    // The write's connection ended before write_ended() (a protocol error, shutdown).
    void write_abandoned(const std::string& id, const std::string& name);
    // `file` is null if the write did not complete; `reserved` is what reserve() granted for it.
    // A file of a push since replaced is let go.
    void write_ended(const WriteTarget& target, const std::string& name,
                     std::shared_ptr<const store::ImageFile> file, std::uint64_t reserved);

    // Memory for kept images: false (and the chain fails) when the budget would be exceeded.
    bool reserve(const std::string& id, std::uint64_t bytes);

    // A dump-side read: waits while the image is being written, then answers.
    boost::asio::awaitable<ParentRead> read_parent(const std::string& id, const std::string& name);

    // The final dump's finish on `chain`: waits for every write still draining, ends every
    // snapshot of the chain on the link and forgets the kept images.
    boost::asio::awaitable<void> finish(const std::string& chain);

    // Fails the chain holding `id` (and all its snapshots) with `reason`.
    void fail_chain_of(const std::string& id, const std::string& reason);

    // Forgets `id`'s chain entirely (img-ctl drop). False if unknown.
    bool drop(const std::string& id);

    [[nodiscard]] std::uint64_t bytes_held() const noexcept { return held_; }

  private:
    struct Pushed {
        std::uint64_t push = 0;                      // which push of the id this is
        std::shared_ptr<OutgoingSnapshot> outgoing;  // null while being announced
        // The announced dump this push replaces. It is aborted only once this push is announced,
        // so that img-cached never holds the id as failed between the two.
        std::shared_ptr<OutgoingSnapshot> replaced;
    };
    struct Chain {
        std::uint64_t serial = 0;  // which chain of its name this is (a dropped one may return)
        std::vector<std::string> ids;
        std::map<std::string, Pushed> pushed;
    };
    Chain* chain_holding(const std::string& id, std::string* name = nullptr);
    void forget_chain(const std::string& name);
    // Aborts on img-cached whatever of `pushed` was announced and has not ended.
    void abort_push(Pushed& pushed, const std::string& reason);

    boost::asio::any_io_executor ex_;
    SnapshotLink& link_;
    SnapshotRegistry& registry_;
    std::uint64_t budget_;
    std::uint64_t held_ = 0;
    std::uint64_t pushes_ = 0;
    std::uint64_t chain_serials_ = 0;
    std::map<std::string, Chain> chains_;
    store::ImageStore kept_;
    std::multiset<std::pair<std::string, std::string>> writing_;  // (id, name) being received
    AsyncEvent changed_;
};

}  // namespace imgx::proxyd
