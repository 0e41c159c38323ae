// Request-line parsing and responses of the metrics endpoint.
#include "metrics/http_request.hpp"

#include <fmt/format.h>

#include "metrics/exposition.hpp"

namespace imgx::metrics {

namespace {

// Where the head ends (just after its empty line), or npos. Bare LF line ends are accepted.
std::size_t head_end(std::string_view received) {
    const std::size_t crlf = received.find("\r\n\r\n");
    const std::size_t lf = received.find("\n\n");
    std::size_t end = std::string_view::npos;
    if (crlf != std::string_view::npos) end = crlf + 4;
    if (lf != std::string_view::npos && lf + 2 < end) end = lf + 2;
    return end;
}

bool token_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

std::string response(std::string_view status, std::string_view content_type,
                     std::string_view extra_headers, std::string_view body) {
    return fmt::format(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n{}",
        status, content_type, body.size(), extra_headers, body);
}

std::string plain(std::string_view status, std::string_view extra_headers = {}) {
    return response(status, "text/plain; charset=utf-8", extra_headers, std::string(status) + "\n");
}

}  // namespace

RequestHead parse_request_head(std::string_view received, std::size_t limit) {
    RequestHead head;
    const std::size_t end = head_end(received);
    if (end == std::string_view::npos || end > limit) {
        head.status =
            received.size() >= limit ? RequestStatus::too_large : RequestStatus::incomplete;
        return head;
    }
    // Request line: METHOD SP TARGET SP HTTP/1.x
    std::string_view line = received.substr(0, received.find('\n'));
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::size_t first_space = line.find(' ');
    const std::size_t last_space = line.rfind(' ');
    head.status = RequestStatus::malformed;
    if (first_space == std::string_view::npos || last_space == first_space) return head;
    const std::string_view method = line.substr(0, first_space);
    const std::string_view target = line.substr(first_space + 1, last_space - first_space - 1);
    const std::string_view version = line.substr(last_space + 1);
    if (method.empty() || target.empty() || !version.starts_with("HTTP/1.")) return head;
    for (char c : method)
        if (!token_char(c)) return head;
    if (target.find(' ') != std::string_view::npos) return head;
    head.status = RequestStatus::complete;
    head.method = std::string(method);
    head.path = std::string(target.substr(0, target.find('?')));
    return head;
}

std::string respond(const RequestHead& request, const std::function<std::string()>& render) {
    switch (request.status) {
        case RequestStatus::incomplete:
        case RequestStatus::malformed:
            return plain("400 Bad Request");
        case RequestStatus::too_large:
            return plain("431 Request Header Fields Too Large");
        case RequestStatus::complete:
            break;
    }
    if (request.method != "GET") return plain("405 Method Not Allowed", "Allow: GET\r\n");
    if (request.path != kMetricsPath) return plain("404 Not Found");
    return response("200 OK", kExpositionContentType, {}, render());
}

}  // namespace imgx::metrics
