// img-ctl requests on img-proxyd: open capture endpoints, status, wait, drop.
#pragma once

#include "control/control_server.hpp"
#include "criu/endpoint_set.hpp"
#include "link_client.hpp"
#include "remote_chains.hpp"
#include "snapshot_registry.hpp"

namespace imgx::proxyd {

control::Handler make_control_handler(criu::EndpointSet& endpoints, SnapshotRegistry& registry,
                                      LinkClient& link, RemoteChains& chains);

}  // namespace imgx::proxyd
