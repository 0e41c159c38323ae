// img-proxyd's metrics (names, types and meanings listed in docs/operations.md, "Metrics").
//
// Every metric is counted whether or not the endpoint is on: an update is one addition, and the
// data path takes a reference once (`auto& read = proxy_metrics().read_bytes;`), then `read += n`.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <memory>

#include "metrics/metrics_server.hpp"
#include "metrics/registry.hpp"

namespace imgx {
class BufferPool;
}

namespace imgx::proxyd {

class LinkClient;
class OutgoingSnapshot;
class RemoteChains;
class SnapshotRegistry;
struct ProxyOptions;

struct ProxyMetrics {
    ProxyMetrics();

    metrics::Registry registry;
    metrics::Counter& read_bytes;  // image bytes read from CRIU
    metrics::Counter& sent_bytes;  // image bytes written to the link
    metrics::Counter& files;       // image files img-cached confirmed
    metrics::Gauge& criu_connections;
    metrics::Gauge& files_reading;  // image files being read from CRIU
    metrics::Counter& link_reconnects;
    metrics::Counter& link_resumes;       // link sessions img-cached continued after a loss
    metrics::Counter& resent_bytes;       // image bytes written again after a resume
    metrics::Counter& chunk_bytes;        // image bytes queued for the link, before compression
    metrics::Counter& chunk_link_bytes;   // the same chunks as sent: after compression
    metrics::Counter& compressed_chunks;  // chunks sent compressed (DATA_ZSTD)
    metrics::Histogram& transfer_seconds;
    // Errors by reason; a fixed set, so the label never grows.
    struct Errors {
        metrics::Counter& protocol;     // bad input from CRIU, or from img-cached on the link
        metrics::Counter& client_gone;  // reading an image from CRIU failed
        metrics::Counter& link_lost;    // the link broke (once per loss)
        metrics::Counter& unreachable;  // a dump began while img-cached could not be reached
        metrics::Counter& refused;      // img-cached refused a snapshot (e.g. a checksum mismatch)
        metrics::Counter& budget;       // an img-remote chain went over --chain-memory
        metrics::Counter& aborted;      // replaced by a newer dump, or dropped by the operator
    } errors;
};

// The process's metrics, created on first use.
ProxyMetrics& proxy_metrics();

// img-cached answered `snapshot`'s end: its duration when confirmed, a refusal otherwise.
void count_snapshot_end(const OutgoingSnapshot& snapshot, bool cache_accepted);

// Starts the endpoint if `options.metrics` is set (logging "metrics on ADDR:PORT"), with the
// gauges read from the daemon's objects at each scrape (`capture`: the capture buffer, null when
// off). Null when off; throws std::runtime_error if it cannot listen.
std::unique_ptr<metrics::MetricsServer> start_metrics(
    const boost::asio::any_io_executor& ex, const ProxyOptions& options, const BufferPool& pool,
    const SnapshotRegistry& registry, const RemoteChains& chains, const LinkClient& link,
    const BufferPool* capture = nullptr);

}  // namespace imgx::proxyd
