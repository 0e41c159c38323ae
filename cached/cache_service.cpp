// img-cached's service hooks: status line, transfers in flight, reload of its configuration.
#include "cache_service.hpp"

#include "cache_config.hpp"
#include "service/local_access.hpp"
#include "service/reload_notes.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace imgx::cached {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// Time for the restores waiting on a failed snapshot to close their connections.
constexpr auto kFailurePropagation = 200ms;

std::optional<std::chrono::seconds> reload(CacheParts& parts, CacheOptions& current, int argc, char** argv) {
    auto fresh = parse_for_reload([&] { return parse_cache_command(argc, argv, kDefaultCacheConfig); });
    if (!fresh) return std::nullopt;
    const CacheOptions& next = fresh->options;
    std::shared_ptr<link::LinkTls> tls;
    if (!link::reload_link_tls(current.tls, next.tls, link::TlsRole::server, std::string(), tls)) return std::nullopt;
    if (tls) parts.listener.set_tls(tls);
    apply_log_level(current.log_level, next.log_level);
    parts.static_endpoints.reload(fresh->file_endpoints);
    apply_local_access(parts.endpoints, parts.control, next.allow_uids, next.allow_gids);
    parts.remote.wait_limit = std::chrono::seconds(next.remote_wait_seconds);
    parts.listener.sessions().set_resume(std::chrono::seconds(next.link_resume_seconds));
    note_restart_needed({{"listen", current.listen.to_string(), next.listen.to_string()},
                         {"control", current.control, next.control},
                         {"remote_data", std::to_string(current.remote_reads_on_socket),
                          std::to_string(next.remote_reads_on_socket)},
                         {"metrics", current.metrics.address.to_string(), next.metrics.address.to_string()},
                         {"plain_tcp", link::plain_link(current.tls) ? "true" : "false",
                          link::plain_link(next.tls) ? "true" : "false"},
                         {"state_dir", current.state_dir, next.state_dir},
                         {"spool_dir", current.spool_dir, next.spool_dir},
                         {"memory_budget_mib", std::to_string(current.memory_budget_mib),
                          std::to_string(next.memory_budget_mib)},
                         {"prefault_mib", std::to_string(current.prefault_mib), std::to_string(next.prefault_mib)}});
    spdlog::info("reload: remote_wait_seconds = {}, link_resume_seconds = {}, shutdown_grace_seconds = {}",
                 next.remote_wait_seconds, next.link_resume_seconds, next.shutdown_grace_seconds);
    // Keys that need a restart keep their running values.
    current.log_level = next.log_level;
    if (tls) current.tls = next.tls;
    current.serves = next.serves;
    current.remote_wait_seconds = next.remote_wait_seconds;
    current.link_resume_seconds = next.link_resume_seconds;
    current.shutdown_grace_seconds = next.shutdown_grace_seconds;
    current.allow_uids = next.allow_uids;
    current.allow_gids = next.allow_gids;
    return std::chrono::seconds(next.shutdown_grace_seconds);
}

bool receiving(const store::Snapshot& s) { return s.state() == store::SnapshotState::receiving; }

}  // namespace

std::shared_ptr<link::LinkTls> start_link_tls(const CacheOptions& options) {
    return link::start_link_tls(options.tls, link::TlsRole::server, std::string(), "img-proxyd");
}

ServiceHooks make_cache_hooks(CacheParts parts, CacheOptions& current, int argc, char** argv) {
    ServiceHooks hooks;
    hooks.load = [parts] {
        ServiceLoad load;
        for (const auto& s : parts.store.all()) {
            load.bytes += s->byte_count() + s->bytes_in_flight;
            if (receiving(*s)) ++load.active;
        }
        load.note = fmt::format("link on {}", parts.listener.bound());
        return load;
    };
    hooks.reload = [parts, &current, argc, argv]() mutable { return reload(parts, current, argc, argv); };
    hooks.stop_accepting = [parts] {
        parts.endpoints.close_all();
        parts.control.close();
        parts.listener.close();
    };
    hooks.in_flight = [parts] {
        std::vector<std::string> lines;
        for (const auto& s : parts.store.all()) {
            if (receiving(*s))
                lines.push_back(fmt::format("snapshot '{}' receiving ({} files, {} bytes so far, {} restore(s) reading)",
                                            s->id(), s->file_count(), s->byte_count() + s->bytes_in_flight,
                                            s->readers));
            else if (s->readers > 0)
                lines.push_back(fmt::format("snapshot '{}' {}, {} restore(s) reading", s->id(),
                                            store::state_name(s->state()), s->readers));
        }
        return lines;
    };
    hooks.fail_in_flight = [parts]() -> asio::awaitable<void> {
        for (const auto& s : parts.store.all())
            if (receiving(*s))
                s->mark_failed("img-cached stopped before the dump finished (shutdown grace period over)");
        asio::steady_timer timer(co_await asio::this_coro::executor, kFailurePropagation);
        co_await timer.async_wait(asio::use_awaitable);
    };
    return hooks;
}

}  // namespace imgx::cached
