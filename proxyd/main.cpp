// img-proxyd: takes image files from `criu dump --stream` and forwards them to img-cached.
#include "criu/endpoint_set.hpp"
#include "criu/stream_codec.hpp"
#include "link_client.hpp"
#include "proxy_control.hpp"
#include "proxy_options.hpp"
#include "criu/remote_codec.hpp"
#include "remote_capture.hpp"
#include "stream_capture.hpp"
#include "util/cli.hpp"
#include "util/log.hpp"
#include "util/notify.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>

using namespace imgx;
namespace asio = boost::asio;

int main(int argc, char** argv) {
    proxyd::ProxyOptions options;
    try {
        if (!proxyd::parse_proxy_options(argc, argv, options)) return 0;
    } catch (const UsageError& e) {
        std::fprintf(stderr, "img-proxyd: %s\n", e.what());
        return kExitUsage;
    }
    setup_logging("img-proxyd", options.log_level);
    // A restore or dump that closes its end early must not kill the daemon.
    std::signal(SIGPIPE, SIG_IGN);

    asio::io_context io(1);
    auto ex = io.get_executor();
    BufferPool pool(ex, options.chunk_bytes, options.buffer_count);
    proxyd::LinkClient link(ex, options.cache, std::chrono::seconds(options.link_wait_seconds));
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
    std::unique_ptr<control::ControlServer> control;
    try {
        for (const auto& spec : options.captures) endpoints.open(spec);
        control = std::make_unique<control::ControlServer>(
            ex, options.control, proxyd::make_control_handler(endpoints, registry, link, chains));
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return 1;
    }
    link.start();

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        spdlog::info("received signal {}; stopping", signo);
        notify_stopping();
        endpoints.close_all();
        control->close();
        link.stop();
        io.stop();
    });

    spdlog::info("img-proxyd {} ready: {} capture endpoint(s), control socket {}, forwarding to {}", IMGX_VERSION,
                 options.captures.size(), options.control, options.cache.to_string());
    notify_ready();
    io.run();
    return 0;
}
