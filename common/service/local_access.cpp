// Local access control for both daemons.
#include "service/local_access.hpp"

#include <spdlog/spdlog.h>

namespace imgx {

void apply_local_access(criu::EndpointSet& endpoints, control::ControlServer& control,
                        const std::vector<unsigned>& uids, const std::vector<unsigned>& gids) {
    const PeerAccess access(std::vector<uid_t>(uids.begin(), uids.end()),
                            std::vector<gid_t>(gids.begin(), gids.end()));
    endpoints.set_peer_access(access);
    control.set_peer_access(access);
    spdlog::info("local access to CRIU endpoints and the control socket: {}", access.describe());
}

}  // namespace imgx
