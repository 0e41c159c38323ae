// The allow-list of local peers (allow_uids/allow_gids) applied to a daemon's UNIX sockets.
#pragma once

#include <vector>

#include "control/control_server.hpp"
#include "criu/endpoint_set.hpp"

namespace imgx {

// Sets who may connect to every CRIU endpoint and to the control socket, at start and on reload,
// and logs the list.
void apply_local_access(criu::EndpointSet& endpoints, control::ControlServer& control,
                        const std::vector<unsigned>& uids, const std::vector<unsigned>& gids);

}  // namespace imgx
