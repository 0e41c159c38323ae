// Parsing of HOST:PORT and [IPv6]:PORT as given on the command line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace imgx {

struct HostPort {
    std::string host;  // without brackets
    std::uint16_t port = 0;
    std::string to_string() const;
};

// Throws std::invalid_argument with a one-line message on malformed input.
// Port 0 is accepted only when `allow_port_zero` (listen on an ephemeral port).
HostPort parse_host_port(std::string_view text, bool allow_port_zero = false);

}  // namespace imgx
