// img-cached's metrics: their registration, and the gauges read from the store at each scrape.
#include "cache_metrics.hpp"

#include "cache_options.hpp"
#include "metrics/process_metrics.hpp"
#include "state_dir.hpp"
#include "store/image_store.hpp"

namespace imgx::cached {

namespace {

constexpr const char* kErrors = "imgx_cached_errors_total";
constexpr const char* kErrorsHelp =
    "Errors by reason: protocol, checksum, link_lost, client_gone, timeout, aborted, storage.";

}  // namespace

CacheMetrics::CacheMetrics()
    : received_bytes(registry.counter("imgx_cached_received_bytes_total",
                                      "Image bytes received over the link from img-proxyd.")),
      served_bytes(
          registry.counter("imgx_cached_served_bytes_total", "Image bytes written to CRIU.")),
      files(registry.counter("imgx_cached_files_total", "Image files received and verified.")),
      criu_connections(registry.gauge("imgx_cached_criu_connections",
                                      "CRIU connections open on serve sockets.")),
      link_sessions_open(registry.gauge("imgx_cached_link_sessions_open",
                                        "Link connections from img-proxyd open now.")),
      link_sessions(registry.counter("imgx_cached_link_sessions_total",
                                     "Link connections from img-proxyd accepted.")),
      link_resumes(
          registry.counter("imgx_cached_link_resumes_total",
                           "Link sessions img-proxyd continued on a new connection after a loss.")),
      transfer_seconds(registry.histogram(
          "imgx_cached_transfer_seconds",
          "Seconds from a dump's start to its last file verified (complete snapshots).",
          metrics::kTransferSecondsBuckets)),
      errors{registry.counter(kErrors, kErrorsHelp, {{"reason", "protocol"}}),
             registry.counter(kErrors, kErrorsHelp, {{"reason", "checksum"}}),
             registry.counter(kErrors, kErrorsHelp, {{"reason", "link_lost"}}),
             registry.counter(kErrors, kErrorsHelp, {{"reason", "client_gone"}}),
             registry.counter(kErrors, kErrorsHelp, {{"reason", "timeout"}}),
             registry.counter(kErrors, kErrorsHelp, {{"reason", "aborted"}}),
             registry.counter(kErrors, kErrorsHelp, {{"reason", "storage"}})},
      snapshots_loaded(
          registry.counter("imgx_cached_snapshots_loaded_total",
                           "Complete snapshots read back from the state directory at start-up.")),
      snapshots_discarded(
          registry.counter("imgx_cached_snapshots_discarded_total",
                           "Partial snapshots of an earlier run removed at start-up.")),
      snapshots_set_aside(
          registry.counter("imgx_cached_snapshots_set_aside_total",
                           "Snapshots in the state directory that did not match their manifest.")) {
    registry
        .gauge("imgx_cached_build_info", "Always 1; the version is a label.",
               {{"version", IMGX_VERSION}})
        .set(1);
}

CacheMetrics& cache_metrics() {
    static CacheMetrics instance;
    return instance;
}

void count_state_load(const StateDir& state) {
    auto& m = cache_metrics();
    m.snapshots_loaded += state.loaded;
    m.snapshots_discarded += state.discarded;
    m.snapshots_set_aside += state.set_aside;
}

void count_snapshot_end(const store::Snapshot& snapshot) {
    if (snapshot.state() != store::SnapshotState::complete) return;
    cache_metrics().transfer_seconds.observe(
        std::chrono::duration<double>(snapshot.settled() - snapshot.started()).count());
}

std::unique_ptr<metrics::MetricsServer> start_metrics(const boost::asio::any_io_executor& ex,
                                                      const CacheOptions& options,
                                                      const store::ImageStore& store) {
    if (options.metrics.address.host.empty()) return nullptr;
    auto& r = cache_metrics().registry;
    r.gauge_reader("imgx_cached_snapshots_active", "Snapshots still receiving.", [&store] {
        std::int64_t active = 0;
        for (const auto& snapshot : store.all())
            active += snapshot->state() == store::SnapshotState::receiving ? 1 : 0;
        return active;
    });
    r.gauge_reader("imgx_cached_snapshots_held", "Snapshots held (any state).",
                   [&store] { return static_cast<std::int64_t>(store.all().size()); });
    r.gauge_reader("imgx_cached_image_held_bytes",
                   "Image bytes held, arriving or stored, in memory or on disk.",
                   [&store] { return static_cast<std::int64_t>(store.bytes_held()); });
    r.gauge_reader("imgx_cached_memory_bytes",
                   "Image bytes held in memory (what memory_budget_mib limits).",
                   [&store] { return static_cast<std::int64_t>(store.memory().used()); });
    r.counter_reader(
        "imgx_cached_spilled_bytes_total",
        "Image bytes kept on disk instead of memory because of the memory budget, since start.",
        [&store] { return static_cast<double>(store.memory().spilled_bytes); });
    metrics::add_process_metrics(r);
    return metrics::serve_metrics(ex, options.metrics.address, r);
}

}  // namespace imgx::cached
