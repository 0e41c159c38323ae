// Control requests both daemons answer the same way: open and close endpoints, list them.
#pragma once

#include <string>

#include "control.pb.h"
#include "criu/endpoint_set.hpp"

namespace imgx::control {

// A final response with ok set and the daemon's name and link description filled in.
Response final_response(const std::string& daemon, const std::string& link, bool ok,
                        std::string error = {});

// The endpoint an open request names, its snapshot id defaulting to the directory's last
// component. Throws std::invalid_argument with the reason when the request is unusable.
EndpointSpec endpoint_spec_of(const OpenEndpoint& request);

// Answers the requests about endpoints (open, close), which both daemons treat alike.
// Returns false, leaving `response` alone, for any other request.
bool answer_endpoint_request(criu::EndpointSet& endpoints, const Request& request,
                             Response& response);

// Adds every endpoint of `endpoints` to `response`.
void list_endpoints(const criu::EndpointSet& endpoints, Response& response);

}  // namespace imgx::control
