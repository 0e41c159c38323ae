// HOST:PORT parsing.
#include "util/address.hpp"

#include <charconv>
#include <stdexcept>

#include "util/names.hpp"

namespace imgx {

std::string HostPort::to_string() const {
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
}

HostPort parse_host_port(std::string_view text, bool allow_port_zero) {
    auto fail = [&](const char* why) {
        throw std::invalid_argument("'" + printable(text) + "' is not HOST:PORT (" + why + ")");
    };
    HostPort out;
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos) fail("missing ']'");
        out.host = std::string(text.substr(1, close - 1));
        if (close + 1 >= text.size() || text[close + 1] != ':') fail("missing ':PORT'");
        port_text = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) fail("missing ':PORT'");
        out.host = std::string(text.substr(0, colon));
        if (out.host.find(':') != std::string::npos) fail("write IPv6 addresses as [ADDR]:PORT");
        port_text = text.substr(colon + 1);
    }
    if (out.host.empty()) fail("empty host");
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
        value > 65535)
        fail("port must be a number from 1 to 65535");
    if (value == 0 && !allow_port_zero) fail("port must be a number from 1 to 65535");
    out.port = static_cast<std::uint16_t>(value);
    return out;
}

}  // namespace imgx
