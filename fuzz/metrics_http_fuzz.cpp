// Fuzz target: bytes a client sends to the metrics endpoint, read the way metrics_server reads
// them (in pieces, parsing the whole prefix after each, up to kMaxRequestBytes), and the response.
#include <algorithm>
#include <charconv>
#include <string>

#include "fuzz_check.hpp"
#include "metrics/http_request.hpp"
#include "metrics/metrics_server.hpp"

using namespace imgx::metrics;

namespace {

constexpr std::string_view kRendered = "imgx_fuzz 1\n";

bool token_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

// The request the server acts on: the first parse of a growing prefix that is not incomplete.
// The first input byte picks the size of each read (1..256 bytes), as a slow or fast client.
RequestHead read_like_server(std::string_view input, std::size_t& consumed) {
    const std::size_t step = input.empty() ? 1 : static_cast<unsigned char>(input.front()) + 1;
    if (!input.empty()) input.remove_prefix(1);
    std::string received;
    RequestHead head;
    while (head.status == RequestStatus::incomplete && received.size() < input.size() &&
           received.size() < kMaxRequestBytes) {
        const std::size_t room = kMaxRequestBytes - received.size();
        received += input.substr(received.size(), std::min(step, room));
        head = parse_request_head(received, kMaxRequestBytes);
    }
    consumed = received.size();
    // Reading in pieces changes nothing: the same prefix parsed at once gives the same request.
    const RequestHead whole = parse_request_head(received, kMaxRequestBytes);
    FUZZ_CHECK(whole.status == head.status && whole.method == head.method &&
               whole.path == head.path);
    return head;
}

void check_head(const RequestHead& head, std::string_view received) {
    if (head.status == RequestStatus::too_large) FUZZ_CHECK(received.size() >= kMaxRequestBytes);
    if (head.status != RequestStatus::complete) {
        FUZZ_CHECK(head.method.empty() && head.path.empty());
        return;
    }
    FUZZ_CHECK(!head.method.empty());
    FUZZ_CHECK(std::all_of(head.method.begin(), head.method.end(), token_char));
    FUZZ_CHECK(head.path.find_first_of(" ?") == std::string::npos);
    FUZZ_CHECK(received.find(head.method + " " + head.path) == 0);
}

// Every response is one HTTP/1.1 status line, a Content-Length that matches its body, and a close.
void check_response(const RequestHead& head, const std::string& response) {
    FUZZ_CHECK(response.starts_with("HTTP/1.1 "));
    const std::size_t end = response.find("\r\n\r\n");
    FUZZ_CHECK(end != std::string::npos);
    const std::string_view headers = std::string_view(response).substr(0, end + 2);
    const std::string_view body = std::string_view(response).substr(end + 4);
    FUZZ_CHECK(headers.find("\r\nConnection: close\r\n") != std::string_view::npos);
    constexpr std::string_view kLength = "\r\nContent-Length: ";
    const std::size_t at = headers.find(kLength);
    FUZZ_CHECK(at != std::string_view::npos);
    std::size_t length = 0;
    const char* digits = headers.data() + at + kLength.size();
    FUZZ_CHECK(std::from_chars(digits, headers.data() + headers.size(), length).ec == std::errc{});
    FUZZ_CHECK(length == body.size());
    const bool served =
        head.status == RequestStatus::complete && head.method == "GET" && head.path == kMetricsPath;
    FUZZ_CHECK(served == response.starts_with("HTTP/1.1 200 OK\r\n"));
    FUZZ_CHECK(served == (body == kRendered));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input = imgfuzz::as_text(data, size);
    std::size_t consumed = 0;
    const RequestHead head = read_like_server(input, consumed);
    check_head(head, input.substr(std::min<std::size_t>(1, input.size()), consumed));
    // The server answers whatever ended the reading; an incomplete head means the client stopped.
    if (head.status != RequestStatus::incomplete)
        check_response(head, respond(head, [] { return std::string(kRendered); }));
    return 0;
}
