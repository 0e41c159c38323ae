// The little HTTP/1.1 the metrics endpoint speaks: a request head parsed from bytes, and the
// whole response for it. Pure code; the socket side is metrics_server.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace imgx::metrics {

// The path the metrics are served on.
inline constexpr std::string_view kMetricsPath = "/metrics";

enum class RequestStatus {
    incomplete,  // the head has not ended yet: read more
    complete,
    too_large,  // the head does not end within the limit
    malformed,
};

struct RequestHead {
    RequestStatus status = RequestStatus::incomplete;
    std::string method;
    std::string path;  // the target without its query string
};

// Parses the request line of `received` once the head (up to the first empty line) is there.
// Headers are not needed and are skipped; a body is never read (GET has none).
RequestHead parse_request_head(std::string_view received, std::size_t limit);

// The complete response (status line, headers, body) for a complete, too large or malformed
// request: 200 with the text from `render` for GET /metrics, 404 for another path, 405 for
// another method, 400 or 431 for bad requests. Every response closes the connection.
std::string respond(const RequestHead& request, const std::function<std::string()>& render);

}  // namespace imgx::metrics
