// img-proxyd: takes image files from `criu dump --stream` and forwards them to img-cached.
#include "criu/endpoint_set.hpp"
#include "criu/stream_codec.hpp"
#include "link_client.hpp"
#include "proxy_control.hpp"
#include "proxy_metrics.hpp"
#include "proxy_options.hpp"
#include "proxy_service.hpp"
#include "criu/remote_codec.hpp"
#include "remote_capture.hpp"
#include "service/passed_sockets.hpp"
#include "service/service_lifecycle.hpp"
#include "service/static_endpoints.hpp"
#include "stream_capture.hpp"
#include "service/daemon_io_context.hpp"
#include "service/fd_limit.hpp"
#include "service/local_access.hpp"
#include "util/cli.hpp"
#include "util/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>

using namespace imgx;
namespace asio = boost::asio;

int main(int argc, char** argv) {
    proxyd::ProxyCommand command;
    try {
        if (!proxyd::parse_proxy_options(argc, argv, command)) return 0;
    } catch (const UsageError& e) {
        std::fprintf(stderr, "img-proxyd: %s\n", e.what());
        return kExitUsage;
    }
    proxyd::ProxyOptions& options = command.options;
    setup_logging("img-proxyd", options.log_level);
    report_fd_limit("img-proxyd", raise_fd_limit(), kWantedFds);
    // A restore or dump that closes its end early must not kill the daemon.
    std::signal(SIGPIPE, SIG_IGN);

    std::shared_ptr<link::LinkTls> tls;  // null: plain TCP
    try {
        tls = proxyd::start_link_tls(options);
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return 1;
    }

    DaemonIoContext io(1);
    auto ex = io.get_executor();
    BufferPool pool(ex, options.chunk_bytes, options.buffer_count);
    proxyd::LinkClient link(ex, options.cache, std::chrono::seconds(options.link_wait_seconds),
                            proxyd::link_resume_settings(options), tls, options.link_streams);
    proxyd::SnapshotRegistry registry(ex);
    proxyd::CaptureContext context{link, pool, registry};
    proxyd::RemoteChains chains(ex, link, registry, options.chain_memory_bytes);
    proxyd::ConnectionOrder order(ex);
    proxyd::RemoteContext remote{link, pool, chains, order, options.remote_reads_on_socket};
    criu::EndpointSet endpoints(
        ex, {{std::string(criu::kStreamCaptureSocket), "stream"}, {std::string(criu::kRemoteProxySocket), "remote"}},
        [&](asio::local::stream_protocol::socket socket, const criu::Endpoint& endpoint, const criu::SocketKind& kind) {
            if (kind.protocol == "remote") {
                // Take the place in line now, in accept order (spec 3.5).
                auto ticket = std::make_unique<proxyd::OrderTicket>(order);
                asio::co_spawn(ex, proxyd::run_remote_capture(std::move(socket), endpoint, std::move(ticket), remote),
                               asio::detached);
                return;
            }
            asio::co_spawn(ex, proxyd::run_stream_capture(std::move(socket), endpoint, context), asio::detached);
        });
    StaticEndpoints static_endpoints(endpoints);
    std::unique_ptr<control::ControlServer> control;
    std::unique_ptr<metrics::MetricsServer> metrics_server;  // null unless --metrics
    try {
        auto passed = PassedSockets::from_environment("img-proxyd", {"control"});
        static_endpoints.open_at_start(command.file_endpoints, command.flag_endpoints);
        auto handler = proxyd::make_control_handler(endpoints, registry, link, chains);
        if (auto fd = passed.take_unix_listener("control"))
            control = std::make_unique<control::ControlServer>(ex, std::move(*fd), std::move(handler));
        else
            control = std::make_unique<control::ControlServer>(ex, options.control, std::move(handler));
        metrics_server = proxyd::start_metrics(ex, options, pool, registry, chains, link);
        apply_local_access(endpoints, *control, options.allow_uids, options.allow_gids);
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return 1;
    }
    link.start();

    ServiceLifecycle service(
        io, "img-proxyd",
        proxyd::make_proxy_hooks({link, registry, chains, endpoints, static_endpoints, *control}, options, argc, argv),
        std::chrono::seconds(options.shutdown_grace_seconds));
    const int status = service.run(fmt::format("img-proxyd {} ready: {} capture endpoint(s), control socket {}, forwarding to {}",
                                   IMGX_VERSION, endpoints.list().size(), control->path(), options.cache.to_string()));
    io.destroy_pending_work();
    return status;
}
