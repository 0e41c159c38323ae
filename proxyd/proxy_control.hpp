// img-ctl requests on img-proxyd: open capture endpoints, status, wait, drop.
#pragma once

#include "control/control_server.hpp"
#include "criu/endpoint_set.hpp"
#include "link_client.hpp"
#include "remote_chains.hpp"
#include "snapshot_registry.hpp"
#include "util/buffer_pool.hpp"

namespace imgx::proxyd {

// `capture`: the capture buffer (null when off), whose held bytes the status line shows.
control::Handler make_control_handler(criu::EndpointSet& endpoints, SnapshotRegistry& registry,
                                      LinkClient& link, RemoteChains& chains,
                                      const BufferPool* capture = nullptr);

// The link's description, with the capture buffer's use when there is one.
std::string describe_link(const LinkClient& link, const BufferPool* capture);

}  // namespace imgx::proxyd
