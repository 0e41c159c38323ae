// img-cached: receives snapshots from img-proxyd and serves them to `criu restore --stream`.
#include "cache_control.hpp"
#include "cache_metrics.hpp"
#include "cache_options.hpp"
#include "cache_service.hpp"
#include "criu/endpoint_set.hpp"
#include "criu/stream_codec.hpp"
#include "link_listener.hpp"
#include "criu/remote_codec.hpp"
#include "remote_serve.hpp"
#include "stream_serve.hpp"
#include "util/cli.hpp"
#include "util/log.hpp"
#include "service/daemon_io_context.hpp"
#include "service/fd_limit.hpp"
#include "service/local_access.hpp"
#include "service/passed_sockets.hpp"
#include "service/service_lifecycle.hpp"
#include "service/static_endpoints.hpp"
#include "state_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <spdlog/spdlog.h>

#include <malloc.h>

#include <csignal>
#include <limits>
#include <cstdio>

using namespace imgx;
namespace asio = boost::asio;

namespace {

// Faults in `mib` of blocks before anything listens (prefault_mib): the first dump then receives
// into memory the kernel has already backed. False (logged) if the memory is not there.
bool prefault_image_memory(store::BlockPool& blocks, std::uint64_t mib) {
    const auto started = std::chrono::steady_clock::now();
    const auto count = static_cast<std::size_t>(((mib << 20) + blocks.block_bytes() - 1) / blocks.block_bytes());
    try {
        blocks.prefault(count);
    } catch (const std::bad_alloc&) {
        spdlog::critical("prefault_mib = {}: cannot allocate that much memory for images", mib);
        return false;
    }
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
    spdlog::info("prefaulted {} MiB of image memory ({} blocks) in {:.2f} s", mib, count, took.count());
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    cached::CacheCommand command;
    try {
        if (!cached::parse_cache_options(argc, argv, command)) return 0;
    } catch (const UsageError& e) {
        std::fprintf(stderr, "img-cached: %s\n", e.what());
        return kExitUsage;
    }
    cached::CacheOptions& options = command.options;
    setup_logging("img-cached", options.log_level);
    report_fd_limit("img-cached", raise_fd_limit(), kWantedFds);
    // CRIU closing a pipe early must not kill the daemon.
    std::signal(SIGPIPE, SIG_IGN);
    // Keep freed image memory for the next snapshot instead of returning it to the kernel:
    // faulting in fresh pages costs more here than receiving the data (docs/performance.md).
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());

    std::shared_ptr<link::LinkTls> tls;  // null: plain TCP
    try {
        tls = cached::start_link_tls(options);
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return 1;
    }

    DaemonIoContext io(1);
    auto ex = io.get_executor();
    // With a state directory, the snapshots kept there are verified and loaded before anything
    // listens, so the first restore already finds them.
    std::unique_ptr<store::ImageStore> stored;
    const cached::StateDir* state_dir = nullptr;  // owned by the store; null without one
    try {
        std::unique_ptr<cached::StateDir> state;
        if (!options.state_dir.empty()) state = std::make_unique<cached::StateDir>(options.state_dir);
        state_dir = state.get();
        stored = std::make_unique<store::ImageStore>(
            ex, store::StoreSettings{options.spool_dir, options.memory_budget_mib << 20}, std::move(state));
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return 1;
    }
    store::ImageStore& store = *stored;
    if (options.prefault_mib > 0 && !prefault_image_memory(store.blocks(), options.prefault_mib)) return 1;
    if (state_dir) cached::count_state_load(*state_dir);
    cached::RemoteServeOptions remote{options.remote_reads_on_socket,
                                            std::chrono::seconds(options.remote_wait_seconds)};
    criu::EndpointSet endpoints(
        ex, {{std::string(criu::kStreamServeSocket), "stream"}, {std::string(criu::kRemoteCacheSocket), "remote"}},
        [&](asio::local::stream_protocol::socket socket, const criu::Endpoint& endpoint, const criu::SocketKind& kind) {
            if (kind.protocol == "remote")
                asio::co_spawn(ex, cached::run_remote_serve(std::move(socket), endpoint, store, remote), asio::detached);
            else
                asio::co_spawn(ex, cached::run_stream_serve(std::move(socket), endpoint, store), asio::detached);
        });
    StaticEndpoints static_endpoints(endpoints);
    cached::LinkSessions sessions(ex, store, std::chrono::seconds(options.link_resume_seconds));
    std::unique_ptr<cached::LinkListener> listener;
    std::unique_ptr<control::ControlServer> control;
    std::unique_ptr<metrics::MetricsServer> metrics_server;  // null unless --metrics
    try {
        auto passed = PassedSockets::from_environment("img-cached", {"link", "control"});
        if (auto fd = passed.take_tcp_listener("link"))
            listener = std::make_unique<cached::LinkListener>(ex, std::move(*fd), sessions, tls);
        else
            listener = std::make_unique<cached::LinkListener>(ex, options.listen, sessions, tls);
        static_endpoints.open_at_start(command.file_endpoints, command.flag_endpoints);
        auto handler = cached::make_control_handler(endpoints, store, "listening on " + listener->bound());
        if (auto fd = passed.take_unix_listener("control"))
            control = std::make_unique<control::ControlServer>(ex, std::move(*fd), std::move(handler));
        else
            control = std::make_unique<control::ControlServer>(ex, options.control, std::move(handler));
        metrics_server = cached::start_metrics(ex, options, store);
        apply_local_access(endpoints, *control, options.allow_uids, options.allow_gids);
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return 1;
    }

    ServiceLifecycle service(io, "img-cached",
                             cached::make_cache_hooks({store, endpoints, static_endpoints, *control, *listener, remote},
                                                      options, argc, argv),
                             std::chrono::seconds(options.shutdown_grace_seconds));
    const int status = service.run(fmt::format("img-cached {} ready: link on {}, {} serve endpoint(s), control socket {}",
                                   IMGX_VERSION, listener->bound(), endpoints.list().size(), control->path()));
    io.destroy_pending_work();
    return status;
}
