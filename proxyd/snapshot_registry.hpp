// The proxy's table of dumps: the latest dump of each snapshot id.
#pragma once

#include "outgoing_snapshot.hpp"
#include "util/async_event.hpp"

#include <boost/asio/awaitable.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace imgx::proxyd {

class SnapshotRegistry {
public:
    explicit SnapshotRegistry(const boost::asio::any_io_executor& ex) : changed_(ex) {}

    // Makes `snapshot` the latest dump of its id.
    void track(std::shared_ptr<OutgoingSnapshot> snapshot) {
        latest_[snapshot->id()] = std::move(snapshot);
        changed_.notify();
    }
    std::shared_ptr<OutgoingSnapshot> find(const std::string& id) const {
        auto it = latest_.find(id);
        return it == latest_.end() ? nullptr : it->second;
    }
    // Waits until a dump of `id` has started.
    boost::asio::awaitable<std::shared_ptr<OutgoingSnapshot>> wait_for(std::string id) {
        for (;;) {
            if (auto found = find(id)) co_return found;
            co_await changed_.wait();
        }
    }
    bool forget(const std::string& id) { return latest_.erase(id) > 0; }
    std::vector<std::shared_ptr<OutgoingSnapshot>> all() const {
        std::vector<std::shared_ptr<OutgoingSnapshot>> out;
        for (const auto& [id, s] : latest_) out.push_back(s);
        return out;
    }

private:
    std::map<std::string, std::shared_ptr<OutgoingSnapshot>> latest_;
    AsyncEvent changed_;
};

}  // namespace imgx::proxyd
