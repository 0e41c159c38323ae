// The /metrics HTTP endpoint: an acceptor and one short-lived coroutine per scrape, on the
// daemon's own io_context.
//
// A client gets at most kMaxRequestBytes and kScrapeTimeout to send its request and take the
// answer, and at most kMaxScrapers connections are served at once (more are closed at once), so
// a slow or hostile client costs a little memory for a while and never blocks the daemon or
// other scrapers.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "util/address.hpp"

namespace imgx::metrics {

inline constexpr std::size_t kMaxRequestBytes = 8192;
inline constexpr std::chrono::seconds kScrapeTimeout{10};
inline constexpr std::size_t kMaxScrapers = 16;

struct ServerState;

class MetricsServer {
  public:
    // Binds `address` (see metrics_address.hpp) and starts serving the text from `render` on
    // GET /metrics. Throws std::runtime_error naming the address if it cannot listen.
    MetricsServer(const boost::asio::any_io_executor& ex, const HostPort& address,
                  std::function<std::string()> render);
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;
    ~MetricsServer();

    // Stops accepting; scrapes in progress end on their own (bounded by kScrapeTimeout).
    void close();
    // The address actually bound (the real port when 0 was asked for).
    [[nodiscard]] std::string bound() const;

  private:
    std::shared_ptr<ServerState> state_;  // shared with the coroutines, which may outlive this
};

class Registry;

// A server for `registry`'s exposition on `address`, logging "metrics on ADDR:PORT" with the
// port actually bound. Throws std::runtime_error if it cannot listen.
std::unique_ptr<MetricsServer> serve_metrics(const boost::asio::any_io_executor& ex,
                                             const HostPort& address, const Registry& registry);

}  // namespace imgx::metrics
