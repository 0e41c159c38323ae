// What img-cached does for the service manager: its status, reload and drain.
#pragma once

#include "cache_options.hpp"
#include "control/control_server.hpp"
#include "criu/endpoint_set.hpp"
#include "link_listener.hpp"
#include "remote_serve.hpp"
#include "service/service_lifecycle.hpp"
#include "service/static_endpoints.hpp"
#include "store/image_store.hpp"

namespace imgx::cached {

// The parts of a running img-cached the lifecycle acts on; all outlive the lifecycle.
struct CacheParts {
    store::ImageStore& store;
    criu::EndpointSet& endpoints;
    StaticEndpoints& static_endpoints;
    control::ControlServer& control;
    LinkListener& listener;
    RemoteServeOptions& remote;  // read by each new --remote restore connection
};

// A reload parses `argc`/`argv` again exactly as at start (same --config, flags still win).
// In flight: snapshots still being received, and snapshots restores are reading; after the
// grace period the snapshots still receiving are marked failed, so their restores fail loudly.
// The link's TLS from the settings, or null for plain TCP (plain_tcp), logged either way.
// Throws std::runtime_error naming the key and file that cannot be used.
std::shared_ptr<link::LinkTls> start_link_tls(const CacheOptions& options);

ServiceHooks make_cache_hooks(CacheParts parts, CacheOptions& current, int argc, char** argv);

}  // namespace imgx::cached
