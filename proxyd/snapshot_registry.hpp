// The proxy's table of dumps: the latest dump of each snapshot id.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "outgoing_snapshot.hpp"
#include "util/async_event.hpp"

namespace imgx::proxyd {

class SnapshotRegistry {
  public:
    explicit SnapshotRegistry(const boost::asio::any_io_executor& ex) : changed_(ex) {}

    // Makes `snapshot` the latest dump of its id and numbers it: 1 for the first dump of the id
    // since the daemon started, one more for each later one (also after a drop).
    void track(std::shared_ptr<OutgoingSnapshot> snapshot) {
        snapshot->set_generation(++generations_[snapshot->id()]);
        latest_[snapshot->id()] = std::move(snapshot);
        changed_.notify();
    }
    std::shared_ptr<OutgoingSnapshot> find(const std::string& id) const {
        auto it = latest_.find(id);
        return it == latest_.end() ? nullptr : it->second;
    }
    // Returns after the next track() (a dump began); waiters re-check what they wait for.
    boost::asio::awaitable<void> wait_change() { co_await changed_.wait(); }
    bool forget(const std::string& id) { return latest_.erase(id) > 0; }

    // A dump whose announcement waits for the link is not tracked yet, but img-ctl drop of its id
    // cancels it: the ticket goes, so the announcement's wanted() says no and nothing is sent.
    std::uint64_t begin_announcing(const std::string& id) {
        announcing_.emplace(++announcements_, id);
        return announcements_;
    }
    [[nodiscard]] bool announcing(std::uint64_t ticket) const {
        return announcing_.contains(ticket);
    }
    void end_announcing(std::uint64_t ticket) { announcing_.erase(ticket); }
    // Cancels every waiting announcement of `id`; false if there was none.
    bool cancel_announcing(const std::string& id) {
        return std::erase_if(announcing_, [&id](const auto& entry) { return entry.second == id; }) >
               0;
    }
    std::vector<std::shared_ptr<OutgoingSnapshot>> all() const {
        std::vector<std::shared_ptr<OutgoingSnapshot>> out;
        for (const auto& [id, s] : latest_) out.push_back(s);
        return out;
    }

  private:
    std::map<std::string, std::shared_ptr<OutgoingSnapshot>> latest_;
    std::map<std::string, std::uint64_t> generations_;  // the last generation given to each id
    std::map<std::uint64_t, std::string> announcing_;   // ticket -> id, while waiting for the link
    std::uint64_t announcements_ = 0;
    AsyncEvent changed_;
};

}  // namespace imgx::proxyd
