// img-cached's metrics (names, types and meanings listed in docs/operations.md, "Metrics").
//
// Every metric is counted whether or not the endpoint is on: an update is one addition, and the
// data path takes a reference once (`auto& received = cache_metrics().received_bytes;`), then
// `received += n`.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <memory>

#include "metrics/metrics_server.hpp"
#include "metrics/registry.hpp"

namespace imgx::store {
class ImageStore;
class Snapshot;
}  // namespace imgx::store

namespace imgx::cached {

struct CacheOptions;
class StateDir;

struct CacheMetrics {
    CacheMetrics();

    metrics::Registry registry;
    metrics::Counter& received_bytes;  // image bytes received over the link
    metrics::Counter& served_bytes;    // image bytes written to CRIU
    metrics::Counter& files;           // image files received and verified
    metrics::Gauge& criu_connections;
    metrics::Gauge& link_sessions_open;
    metrics::Counter& link_sessions;
    metrics::Counter& link_resumes;  // link sessions continued on a new connection
    metrics::Histogram& transfer_seconds;
    // Errors by reason; a fixed set, so the label never grows.
    struct Errors {
        metrics::Counter& protocol;     // bad frames on the link, or bad requests from CRIU
        metrics::Counter& checksum;     // a file whose size or XXH3 did not match
        metrics::Counter& link_lost;    // a dump whose link broke before its end
        metrics::Counter& client_gone;  // CRIU went away while waiting for an answer
        metrics::Counter& timeout;      // an img-remote read waited longer than --remote-wait
        metrics::Counter& aborted;      // img-proxyd aborted a dump (replaced, failed there)
        metrics::Counter&
            storage;  // a dump the store could not keep (memory budget, disk full, I/O)
    } errors;
    // The state directory at start-up.
    metrics::Counter& snapshots_loaded;     // complete snapshots verified and served again
    metrics::Counter& snapshots_discarded;  // partial snapshots of an earlier run, removed
    metrics::Counter& snapshots_set_aside;  // snapshots that did not match their manifest
};

// The process's metrics, created on first use.
CacheMetrics& cache_metrics();

// What the store found in its state directory at start-up.
void count_state_load(const StateDir& state);

// A dump's end arrived: its duration if the snapshot is complete.
void count_snapshot_end(const store::Snapshot& snapshot);

// Starts the endpoint if `options.metrics` is set (logging "metrics on ADDR:PORT"), with the
// gauges read from the store at each scrape. Null when off; throws std::runtime_error if it
// cannot listen.
std::unique_ptr<metrics::MetricsServer> start_metrics(const boost::asio::any_io_executor& ex,
                                                      const CacheOptions& options,
                                                      const store::ImageStore& store);

}  // namespace imgx::cached
