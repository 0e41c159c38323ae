// Shared control request handling.
#include "control/endpoint_requests.hpp"

#include <stdexcept>

#include "util/names.hpp"

namespace imgx::control {

Response final_response(const std::string& daemon, const std::string& link, bool ok,
                        std::string error) {
    Response r;
    r.set_daemon(daemon);
    r.set_link(link);
    r.set_ok(ok);
    r.set_final(true);
    r.set_error(std::move(error));
    return r;
}

EndpointSpec endpoint_spec_of(const OpenEndpoint& request) {
    EndpointSpec spec{request.dir(), request.snapshot_id()};
    if (spec.dir.empty()) throw std::invalid_argument("no directory given");
    if (spec.snapshot_id.empty()) spec.snapshot_id = snapshot_id_from_dir(spec.dir);
    if (auto problem = snapshot_id_problem(spec.snapshot_id))
        throw std::invalid_argument(*problem +
                                    (request.snapshot_id().empty() ? " (give --snapshot ID)" : ""));
    return spec;
}

namespace {

// Opens the endpoint; returns an empty string or the reason it could not be opened.
std::string open_endpoint(criu::EndpointSet& endpoints, const OpenEndpoint& request) {
    try {
        // An empty directory is never open, so "no directory given" still comes first.
        if (request.keep_existing() && endpoints.has(request.dir())) return {};
        endpoints.open(endpoint_spec_of(request));
        return {};
    } catch (const std::exception& e) {
        return e.what();
    }
}

}  // namespace

bool answer_endpoint_request(criu::EndpointSet& endpoints, const Request& request,
                             Response& response) {
    std::string error;
    if (request.has_open()) {
        error = open_endpoint(endpoints, request.open());
    } else if (request.what_case() == Request::kClose) {
        if (!endpoints.close(request.close())) error = "no endpoint in " + request.close();
    } else {
        return false;
    }
    response.set_ok(error.empty());
    response.set_final(true);
    response.set_error(error);
    return true;
}

void list_endpoints(const criu::EndpointSet& endpoints, Response& response) {
    for (const auto& e : endpoints.list()) {
        auto* out = response.add_endpoints();
        out->set_dir(e.endpoint.dir);
        out->set_snapshot_id(e.endpoint.snapshot_id);
        for (const auto& p : e.socket_paths) out->add_sockets(p);
    }
}

}  // namespace imgx::control
