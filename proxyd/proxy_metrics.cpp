// img-proxyd's metrics: their registration, and the gauges read from the daemon at each scrape.
#include "proxy_metrics.hpp"

#include "link_client.hpp"
#include "metrics/process_metrics.hpp"
#include "outgoing_snapshot.hpp"
#include "proxy_options.hpp"
#include "remote_chains.hpp"
#include "snapshot_registry.hpp"
#include "util/buffer_pool.hpp"

namespace imgx::proxyd {

namespace {

constexpr const char* kErrors = "imgx_proxyd_errors_total";
constexpr const char* kErrorsHelp =
    "Errors by reason: protocol, client_gone, link_lost, unreachable, refused, budget, aborted.";

}  // namespace

ProxyMetrics::ProxyMetrics()
    : read_bytes(registry.counter("imgx_proxyd_read_bytes_total", "Image bytes read from CRIU.")),
      sent_bytes(registry.counter("imgx_proxyd_sent_bytes_total",
                                  "Image bytes written to the link to img-cached.")),
      files(registry.counter("imgx_proxyd_files_total", "Image files img-cached confirmed.")),
      criu_connections(registry.gauge("imgx_proxyd_criu_connections",
                                      "CRIU connections open on capture sockets.")),
      files_reading(
          registry.gauge("imgx_proxyd_files_reading", "Image files being read from CRIU.")),
      link_reconnects(
          registry.counter("imgx_proxyd_link_reconnects_total",
                           "Times the link to img-cached came up again after it was lost.")),
      link_resumes(registry.counter("imgx_proxyd_link_resumes_total",
                                    "Times img-cached continued the link session after a loss.")),
      resent_bytes(registry.counter("imgx_proxyd_resent_bytes_total",
                                    "Image bytes written to the link again after a resume (not yet "
                                    "acknowledged when it broke).")),
      chunk_bytes(registry.counter("imgx_proxyd_link_chunk_bytes_total",
                                   "Image bytes queued for the link, before compression.")),
      chunk_link_bytes(registry.counter(
          "imgx_proxyd_link_chunk_sent_bytes_total",
          "The same chunks as they go on the link: after compression (equal when none).")),
      compressed_chunks(registry.counter("imgx_proxyd_compressed_chunks_total",
                                         "Chunks sent zstd-compressed (DATA_ZSTD frames).")),
      transfer_seconds(
          registry.histogram("imgx_proxyd_transfer_seconds",
                             "Seconds from a dump's start to img-cached confirming every file.",
                             metrics::kTransferSecondsBuckets)),
      errors{registry.counter(kErrors, kErrorsHelp, {{"reason", "protocol"}}),
             registry.counter(kErrors, kErrorsHelp, {{"reason", "client_gone"}}),
             registry.counter(kErrors, kErrorsHelp, {{"reason", "link_lost"}}),
             registry.counter(kErrors, kErrorsHelp, {{"reason", "unreachable"}}),
             registry.counter(kErrors, kErrorsHelp, {{"reason", "refused"}}),
             registry.counter(kErrors, kErrorsHelp, {{"reason", "budget"}}),
             registry.counter(kErrors, kErrorsHelp, {{"reason", "aborted"}})} {
    registry
        .gauge("imgx_proxyd_build_info", "Always 1; the version is a label.",
               {{"version", IMGX_VERSION}})
        .set(1);
}

ProxyMetrics& proxy_metrics() {
    static ProxyMetrics instance;
    return instance;
}

void count_snapshot_end(const OutgoingSnapshot& snapshot, bool cache_accepted) {
    auto& m = proxy_metrics();
    if (snapshot.state() == OutgoingState::acknowledged)
        m.transfer_seconds.observe(
            std::chrono::duration<double>(snapshot.finished() - snapshot.started()).count());
    else if (!cache_accepted)
        ++m.errors.refused;
}

std::unique_ptr<metrics::MetricsServer> start_metrics(
    const boost::asio::any_io_executor& ex, const ProxyOptions& options, const BufferPool& pool,
    const SnapshotRegistry& registry, const RemoteChains& chains, const LinkClient& link,
    const BufferPool* capture) {
    if (options.metrics.address.host.empty()) return nullptr;
    auto& r = proxy_metrics().registry;
    r.gauge_reader("imgx_proxyd_snapshots_active", "Dumps not yet confirmed or failed.",
                   [&registry] {
                       std::int64_t active = 0;
                       for (const auto& snapshot : registry.all())
                           active += snapshot->settled() ? 0 : 1;
                       return active;
                   });
    r.gauge_reader("imgx_proxyd_link_up", "1 while the link to img-cached is connected.",
                   [&link] { return link.connected() ? 1 : 0; });
    r.gauge_reader("imgx_proxyd_buffer_used_bytes", "Bytes of the data buffer pool in use.",
                   [&pool] {
                       return static_cast<std::int64_t>((pool.total_count() - pool.free_count()) *
                                                        pool.buffer_bytes());
                   });
    r.gauge_reader(
        "imgx_proxyd_buffer_bytes", "Size of the data buffer pool (--buffers).",
        [&pool] { return static_cast<std::int64_t>(pool.total_count() * pool.buffer_bytes()); });
    r.gauge_reader("imgx_proxyd_chain_held_bytes",
                   "Image bytes kept for img-remote pre-dump chains (--chain-memory).",
                   [&chains] { return static_cast<std::int64_t>(chains.bytes_held()); });
    r.gauge_reader(
        "imgx_proxyd_capture_buffered_bytes",
        "Bytes read from CRIU into the capture buffer and not yet confirmed by "
        "img-cached (0 with capture_buffer_mib = 0).",
        [capture] { return capture ? static_cast<std::int64_t>(capture->filled_bytes()) : 0; });
    r.gauge_reader("imgx_proxyd_capture_buffer_bytes",
                   "Size of the capture buffer (capture_buffer_mib).", [capture] {
                       return capture ? static_cast<std::int64_t>(capture->total_count() *
                                                                  capture->buffer_bytes())
                                      : 0;
                   });
    metrics::add_process_metrics(r);
    return metrics::serve_metrics(ex, options.metrics.address, r);
}

}  // namespace imgx::proxyd
