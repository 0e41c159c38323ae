// Where the metrics endpoint listens: parsing `--metrics` / `metrics`, and the loopback rule.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <string_view>

#include "util/address.hpp"

namespace imgx::metrics {

// "" (off: the empty HostPort) or ADDR:PORT where ADDR is an IP address (IPv6 in brackets) or
// `localhost`; port 0 picks a free port. Throws std::invalid_argument with a one-line message.
HostPort parse_metrics_address(std::string_view text);

// The address to bind; `localhost` is 127.0.0.1.
boost::asio::ip::address metrics_ip(const HostPort& address);

// The metrics reveal what the daemon is moving, so they stay on loopback unless the operator
// says otherwise. Throws UsageError for a non-loopback address without `allow_remote`.
void check_metrics_exposure(const HostPort& address, bool allow_remote);

}  // namespace imgx::metrics
