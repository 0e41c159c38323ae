// Control requests both daemons answer the same way: open and close endpoints, list them.
#pragma once

#include "control.pb.h"
#include "criu/endpoint_set.hpp"

#include <string>

namespace imgx::control {

// A final response with ok set and the daemon's name and link description filled in.
Response final_response(const std::string& daemon, const std::string& link, bool ok, std::string error = {});

// Opens the endpoint; returns an empty string or the reason it could not be opened.
std::string open_endpoint(criu::EndpointSet& endpoints, const OpenEndpoint& request);

// Adds every endpoint of `endpoints` to `response`.
void list_endpoints(const criu::EndpointSet& endpoints, Response& response);

}  // namespace imgx::control
