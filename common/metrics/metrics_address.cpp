// Parsing and checking the metrics endpoint's address.
#include "metrics/metrics_address.hpp"

#include <stdexcept>

#include "util/cli.hpp"
#include "util/names.hpp"

namespace imgx::metrics {

namespace {

constexpr std::string_view kLocalhost = "localhost";

}  // namespace

HostPort parse_metrics_address(std::string_view text) {
    if (text.empty()) return {};
    HostPort address = parse_host_port(text, /*allow_port_zero=*/true);
    if (address.host == kLocalhost) return address;
    boost::system::error_code ec;
    boost::asio::ip::make_address(address.host, ec);
    if (ec)
        throw std::invalid_argument("'" + printable(text) +
                                    "': the metrics address must be an IP address or localhost");
    return address;
}

boost::asio::ip::address metrics_ip(const HostPort& address) {
    if (address.host == kLocalhost) return boost::asio::ip::address_v4::loopback();
    return boost::asio::ip::make_address(address.host);
}

void check_metrics_exposure(const HostPort& address, bool allow_remote) {
    if (address.host.empty() || allow_remote || metrics_ip(address).is_loopback()) return;
    throw UsageError("metrics address " + address.to_string() +
                     " is not a loopback address; the metrics reveal what is being migrated, so "
                     "set metrics_allow_remote = true (or --metrics-allow-remote) to serve them "
                     "beyond this host");
}

}  // namespace imgx::metrics
