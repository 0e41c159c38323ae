// Control requests both daemons answer the same way: open and close endpoints, list them.
#pragma once

#include "control.pb.h"
#include "criu/endpoint_set.hpp"

#include <string>

namespace imgx::control {

// A final response with ok set and the daemon's name and link description filled in.
Response final_response(const std::string& daemon, const std::string& link, bool ok, std::string error = {});

// Answers the requests about endpoints (open, close), which both daemons treat alike.
// Returns false, leaving `response` alone, for any other request.
bool answer_endpoint_request(criu::EndpointSet& endpoints, const Request& request, Response& response);

// Adds every endpoint of `endpoints` to `response`.
void list_endpoints(const criu::EndpointSet& endpoints, Response& response);

}  // namespace imgx::control
