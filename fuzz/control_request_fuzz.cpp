// Fuzz target: a control request body as a daemon reads it from its control socket, and the
// request handling both daemons share (endpoint open/close).
#include <boost/asio/io_context.hpp>
#include <stdexcept>

#include "control.pb.h"
#include "control/endpoint_requests.hpp"
#include "fuzz_check.hpp"

using namespace imgx;

namespace {

void check_open(const control::OpenEndpoint& open) {
    EndpointSpec spec;
    try {
        spec = control::endpoint_spec_of(open);
    } catch (const std::invalid_argument&) {
        return;
    }
    FUZZ_CHECK(!spec.dir.empty());
    FUZZ_CHECK(spec.dir == open.dir());
    FUZZ_CHECK(!snapshot_id_problem(spec.snapshot_id));
    if (!open.snapshot_id().empty()) FUZZ_CHECK(spec.snapshot_id == open.snapshot_id());
}

// Every other request goes through the shared handler, with no endpoint open (opening one would
// create directories and sockets, so open requests stop at their validation above).
void check_other(const control::Request& request) {
    static boost::asio::io_context io;
    static criu::EndpointSet endpoints(io.get_executor(), {}, nullptr);
    control::Response response;
    const bool answered = control::answer_endpoint_request(endpoints, request, response);
    FUZZ_CHECK(answered == (request.what_case() == control::Request::kClose));
    if (answered) {
        FUZZ_CHECK(!response.ok());
        FUZZ_CHECK(response.final());
        FUZZ_CHECK(!response.error().empty());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    control::Request request;
    try {
        wire::decode_body(imgfuzz::as_text(data, size), request, "control request");
    } catch (const wire::ProtocolError&) {
        return 0;
    }
    const std::string encoded = request.SerializeAsString();
    control::Request again;
    FUZZ_CHECK(again.ParseFromString(encoded));
    FUZZ_CHECK(again.SerializeAsString() == encoded);
    if (request.has_open())
        check_open(request.open());
    else
        check_other(request);
    return 0;
}
