// Reading a daemon's /metrics endpoint from a test: plain HTTP/1.1 over loopback TCP.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "support/daemon_pair.hpp"
#include "support/fd_io.hpp"
#include "util/unique_fd.hpp"

namespace imgtest {

// Shorter than the daemons' 10 s limit for one scrape.
inline constexpr auto kScrapeTimeout = seconds(8);

// The port from the daemon's "metrics on 127.0.0.1:PORT" line (it was started with
// `--metrics 127.0.0.1:0`), 0 if it does not appear within 10 s.
std::uint16_t metrics_port(DaemonPair& pair, Side side);

// A TCP connection to 127.0.0.1:`port`; an invalid fd if it cannot connect.
imgx::UniqueFd connect_loopback(std::uint16_t port);

// Sends `request` on a new connection and returns everything the daemon answers before closing
// ("(cannot connect)" / "(cannot send)" when that fails).
std::string ask(std::uint16_t port, const std::string& request,
                Clock::duration timeout = kScrapeTimeout);
// `GET path` answered whole (status line, headers, body).
std::string get(std::uint16_t port, const std::string& path);
// The body of an HTTP response ("" without one).
std::string body_of(const std::string& response);
// The value of the sample `series` (a name, with its labels if it has any) in an exposition.
std::optional<double> value_of(const std::string& exposition, const std::string& series);
// The exposition of /metrics.
inline std::string scrape(std::uint16_t port) { return body_of(get(port, "/metrics")); }
// Scrapes until `series` reaches `expected`, at most 10 s; returns the last scrape.
std::string scrape_until(std::uint16_t port, const std::string& series, double expected);

}  // namespace imgtest
