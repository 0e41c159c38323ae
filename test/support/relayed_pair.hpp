// Both daemons with a FaultRelay on the link: img-proxyd connects through the relay.
#pragma once

#include <memory>

#include "support/daemon_pair.hpp"
#include "support/fault_relay.hpp"

namespace imgtest {

struct RelayedPair {
    std::unique_ptr<DaemonPair> pair;
    std::unique_ptr<FaultRelay> relay;

    // `arm(relay)` runs before img-proxyd starts, so a fault can hit its very first connection.
    template <typename Arm>
    explicit RelayedPair(Arm&& arm, PairOptions options = {}) {
        options.start_proxy = false;
        pair = std::make_unique<DaemonPair>(options);
        relay = std::make_unique<FaultRelay>(pair->port());
        arm(*relay);
        pair->route_link_through(relay->port());
        pair->start_proxy();
    }
};

}  // namespace imgtest
