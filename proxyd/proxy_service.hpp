// What img-proxyd does for the service manager: its status, reload and drain.
#pragma once

#include "control/control_server.hpp"
#include "criu/endpoint_set.hpp"
#include "link_client.hpp"
#include "proxy_options.hpp"
#include "remote_chains.hpp"
#include "service/service_lifecycle.hpp"
#include "service/static_endpoints.hpp"
#include "snapshot_registry.hpp"

namespace imgx::proxyd {

// The parts of a running img-proxyd the lifecycle acts on; all outlive the lifecycle.
struct ProxyParts {
    LinkClient& link;
    SnapshotRegistry& registry;
    RemoteChains& chains;
    criu::EndpointSet& endpoints;
    StaticEndpoints& static_endpoints;
    control::ControlServer& control;
};

// The link's resume behaviour as the options set it (at start and on reload).
LinkResumeSettings link_resume_settings(const ProxyOptions& options);

// A reload parses `argc`/`argv` again exactly as at start (same --config, flags still win).
// In flight: dumps CRIU is still handing over or img-cached has not confirmed; after the grace
// period they are aborted on the link, so img-cached marks them failed.
// The link's TLS from the settings, or null for plain TCP (plain_tcp), logged either way.
// Throws std::runtime_error naming the key and file that cannot be used.
std::shared_ptr<link::LinkTls> start_link_tls(const ProxyOptions& options);

ServiceHooks make_proxy_hooks(ProxyParts parts, ProxyOptions& current, int argc, char** argv);

}  // namespace imgx::proxyd
