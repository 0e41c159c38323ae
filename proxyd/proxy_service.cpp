// img-proxyd's parts for the daemon shell: capture endpoints, link, status, reload, drain.
#include "proxy_service.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "capture_thread.hpp"
#include "connection_order.hpp"
#include "criu/remote_codec.hpp"
#include "criu/stream_codec.hpp"
#include "proxy_control.hpp"
#include "proxy_metrics.hpp"
#include "remote_capture.hpp"
#include "remote_chains.hpp"
#include "snapshot_registry.hpp"
#include "stream_capture.hpp"
#include "util/buffer_pool.hpp"
#include "util/worker_pool.hpp"

namespace imgx::proxyd {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// How long the aborts of a drain may take to reach img-cached.
constexpr auto kAbortFlush = 2s;

class ProxyDaemon final : public Daemon<ProxyOptions> {
  public:
    ProxyDaemon(const asio::any_io_executor& ex, const ProxyOptions& options,
                std::shared_ptr<link::LinkTls> tls)
        : ex_(ex),
          options_(options),
          pool_(ex, options.chunk_bytes, options.buffer_count),
          capture_(
              options.capture_buffer_mib == 0
                  ? nullptr
                  : std::make_unique<CaptureThread>(
                        ex, options.chunk_bytes,
                        (std::size_t{options.capture_buffer_mib} << 20) / options.chunk_bytes)),
          link_(ex, options.cache, std::chrono::seconds(options.link_wait_seconds),
                link_resume_settings(options), std::move(tls), options.link_streams, &workers_),
          registry_(ex),
          chains_(ex, link_, registry_, options.chain_memory_bytes),
          order_(ex),

          endpoints_(
              ex,
              {{std::string(criu::kStreamCaptureSocket), "stream"},
               {std::string(criu::kRemoteProxySocket), "remote"}},
              [this](asio::local::stream_protocol::socket socket, const criu::Endpoint& endpoint,
                     const criu::SocketKind& kind) { accept(std::move(socket), endpoint, kind); }) {
    }

    criu::EndpointSet& endpoints() override { return endpoints_; }
    control::Handler control_handler() override {
        return make_control_handler(endpoints_, registry_, link_, chains_, capture_buffer());
    }
    std::unique_ptr<metrics::MetricsServer> start_metrics() override {
        return proxyd::start_metrics(ex_, options_, pool_, registry_, chains_, link_,
                                     capture_buffer());
    }
    void start() override {
        link_.set_compress({options_.compress, options_.compress_level});
        link_.start();
    }
    std::string ready_line(const std::string& control_path) const override {
        return fmt::format(
            "img-proxyd {} ready: {} capture endpoint(s), control socket {}, forwarding to {}",
            IMGX_VERSION, endpoints_.list().size(), control_path, options_.cache.to_string());
    }
    void set_tls(std::shared_ptr<link::LinkTls> tls) override { link_.set_tls(std::move(tls)); }
    void reload(const ProxyOptions& next) override {
        link_.set_connect_wait(std::chrono::seconds(next.link_wait_seconds));
        link_.set_resume(link_resume_settings(next));
        chains_.set_memory_budget(next.chain_memory_bytes);
        link_.set_compress({next.compress, next.compress_level});
    }

    ServiceLoad load() const override {
        ServiceLoad load;
        for (const auto& snapshot : registry_.all()) {
            load.bytes += snapshot->bytes_read();
            if (!snapshot->settled()) ++load.active;
        }
        load.note = "link " + describe_link(link_, capture_buffer());
        return load;
    }
    std::vector<std::string> in_flight() const override {
        std::vector<std::string> lines;
        for (const auto& s : unsettled())
            lines.push_back(fmt::format(
                "dump of snapshot '{}' {} ({} files, {} bytes read, {} confirmed)", s->id(),
                state_name(s->state()), s->files(), s->bytes_read(), s->bytes_acked()));
        return lines;
    }
    asio::awaitable<void> fail_in_flight() override {
        for (const auto& s : unsettled())
            link_.abort_snapshot(
                s, "img-proxyd stopped before the dump finished (shutdown grace period over)");
        co_await link_.flush(kAbortFlush);
        link_.stop();
    }

  private:
    [[nodiscard]] const BufferPool* capture_buffer() const {
        return capture_ ? &capture_->buffer() : nullptr;
    }
    void accept(asio::local::stream_protocol::socket socket, const criu::Endpoint& endpoint,
                const criu::SocketKind& kind) {
        if (kind.protocol == "remote") {
            // Take the place in line now, in accept order (spec 3.5).
            auto ticket = std::make_unique<OrderTicket>(order_);
            RemoteContext remote{link_, pool_, chains_, order_, options_.remote_reads_on_socket};
            asio::co_spawn(
                ex_, run_remote_capture(std::move(socket), endpoint, std::move(ticket), remote),
                asio::detached);
            return;
        }
        asio::co_spawn(ex_,
                       run_stream_capture(std::move(socket), endpoint,
                                          CaptureContext{link_, pool_, registry_, capture_.get()}),
                       asio::detached);
    }

    std::vector<std::shared_ptr<OutgoingSnapshot>> unsettled() const {
        std::vector<std::shared_ptr<OutgoingSnapshot>> out;
        for (auto& snapshot : registry_.all())
            if (!snapshot->settled()) out.push_back(snapshot);
        return out;
    }

    asio::any_io_executor ex_;
    const ProxyOptions& options_;  // the running options (the shell's; restart settings fixed)
    BufferPool pool_;
    // Null with capture_buffer_mib = 0. Before link_: the link's frames hold its blocks.
    std::unique_ptr<CaptureThread> capture_;
    // Compression beside the event loop, one thread per CPU (at most 8). Between the pool, whose
    // buffers its jobs write into, and the link, whose chunks it compresses.
    WorkerPool workers_;
    LinkClient link_;
    SnapshotRegistry registry_;
    RemoteChains chains_;
    ConnectionOrder order_;
    criu::EndpointSet endpoints_;
};

}  // namespace

LinkResumeSettings link_resume_settings(const ProxyOptions& options) {
    return {std::chrono::seconds(options.link_retry_seconds),
            std::chrono::seconds(options.link_idle_timeout_seconds)};
}

std::unique_ptr<Daemon<ProxyOptions>> build_proxy_daemon(const asio::any_io_executor& ex,
                                                         const ProxyOptions& options,
                                                         std::shared_ptr<link::LinkTls> tls) {
    return std::make_unique<ProxyDaemon>(ex, options, std::move(tls));
}

}  // namespace imgx::proxyd
