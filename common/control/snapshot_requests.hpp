// img-ctl's snapshot requests (status, wait, drop), answered alike by both daemons over their
// tables.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "control.pb.h"
#include "control/control_server.hpp"
#include "criu/endpoint_set.hpp"

namespace imgx::control {

// One dump of a snapshot id, as the control requests see it. Each daemon wraps its own type.
class DumpView {
  public:
    virtual ~DumpView() = default;
    // Which dump of its id this is: 1 for the first one since the daemon started, +1 per new one.
    [[nodiscard]] virtual std::uint64_t generation() const = 0;
    // Succeeded or failed: nothing about it changes any more.
    [[nodiscard]] virtual bool settled() const = 0;
    // Settled, every file stored on img-cached (proxy: acknowledged; cache: complete).
    [[nodiscard]] virtual bool succeeded() const = 0;
    [[nodiscard]] virtual std::string error() const = 0;
    // Fills in every field of `out`, generation included.
    virtual void describe(SnapshotStatus& out) const = 0;
    // Returns once settled (at once if it is).
    virtual boost::asio::awaitable<void> wait_settled() = 0;
};

// A daemon's table of dumps: the latest dump of each snapshot id.
class SnapshotBook {
  public:
    virtual ~SnapshotBook() = default;
    [[nodiscard]] virtual std::vector<std::shared_ptr<DumpView>> all() const = 0;
    // The latest dump of `id`, or null.
    [[nodiscard]] virtual std::shared_ptr<DumpView> find(const std::string& id) const = 0;
    // Returns after the table changed (at least: after a dump began); waiters re-check.
    virtual boost::asio::awaitable<void> wait_change() = 0;
    // Forgets `id` and stops its dump if it still runs. False if unknown.
    virtual bool drop(const std::string& id) = 0;
};

// A daemon's dump in its DumpView type `View` (made from the shared_ptr), or null.
template <class View, class Dump>
std::shared_ptr<DumpView> view_of(std::shared_ptr<Dump> dump) {
    return dump ? std::make_shared<View>(std::move(dump)) : nullptr;
}

// Each of a daemon's dumps in its DumpView type `View`.
template <class View, class Dump>
std::vector<std::shared_ptr<DumpView>> views_of(std::vector<std::shared_ptr<Dump>> dumps) {
    std::vector<std::shared_ptr<DumpView>> out;
    for (auto& dump : dumps) out.push_back(view_of<View>(std::move(dump)));
    return out;
}

// A final response of the daemon: ok, error, and its name and link description filled in.
using FinalResponse = std::function<Response(bool ok, std::string error)>;

// What a wait request waits for: a dump of `snapshot_id` of at least `min_generation`.
struct WaitTarget {
    std::string snapshot_id;
    std::uint64_t min_generation = 0;  // 0: the latest dump, whichever
};

// The target of a wait or wait_for request. Throws std::invalid_argument for an empty snapshot id.
WaitTarget wait_target(const Request& request);

// Waits until `book` holds a dump of the target (one that began later counts too).
boost::asio::awaitable<std::shared_ptr<DumpView>> wait_for_dump(SnapshotBook& book,
                                                                WaitTarget target);

// The control handler of a daemon: endpoint requests on `endpoints`, snapshot requests on
// `book`, an error answer for anything else. A wait ends early when its client hangs up.
Handler make_snapshot_handler(criu::EndpointSet& endpoints, std::shared_ptr<SnapshotBook> book,
                              FinalResponse done);

}  // namespace imgx::control
