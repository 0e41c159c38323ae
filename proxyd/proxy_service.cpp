// img-proxyd's service hooks: status line, transfers in flight, reload of its configuration.
#include "proxy_service.hpp"

#include "proxy_config.hpp"
#include "service/local_access.hpp"
#include "service/reload_notes.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace imgx::proxyd {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// How long the aborts of a drain may take to reach img-cached.
constexpr auto kAbortFlush = 2s;

std::optional<std::chrono::seconds> reload(ProxyParts& parts, ProxyOptions& current, int argc, char** argv) {
    auto fresh = parse_for_reload([&] { return parse_proxy_command(argc, argv, kDefaultProxyConfig); });
    if (!fresh) return std::nullopt;
    const ProxyOptions& next = fresh->options;
    std::shared_ptr<link::LinkTls> tls;
    if (!link::reload_link_tls(current.tls, next.tls, link::TlsRole::client, next.cache.host, tls)) return std::nullopt;
    if (tls) parts.link.set_tls(tls);
    apply_log_level(current.log_level, next.log_level);
    parts.static_endpoints.reload(fresh->file_endpoints);
    parts.link.set_connect_wait(std::chrono::seconds(next.link_wait_seconds));
    parts.link.set_resume(link_resume_settings(next));
    parts.chains.set_memory_budget(next.chain_memory_bytes);
    apply_local_access(parts.endpoints, parts.control, next.allow_uids, next.allow_gids);
    note_restart_needed({{"cache", current.cache.to_string(), next.cache.to_string()},
                         {"control", current.control, next.control},
                         {"buffers", std::to_string(current.buffer_count), std::to_string(next.buffer_count)},
                         {"link_streams", std::to_string(current.link_streams), std::to_string(next.link_streams)},
                         {"remote_data", std::to_string(current.remote_reads_on_socket),
                          std::to_string(next.remote_reads_on_socket)},
                         {"metrics", current.metrics.address.to_string(), next.metrics.address.to_string()},
                         {"plain_tcp", link::plain_link(current.tls) ? "true" : "false",
                          link::plain_link(next.tls) ? "true" : "false"}});
    spdlog::info("reload: link_wait_seconds = {}, link_retry_seconds = {}, link_idle_timeout_seconds = {}, "
                 "chain_memory_mib = {}, shutdown_grace_seconds = {}",
                 next.link_wait_seconds, next.link_retry_seconds, next.link_idle_timeout_seconds,
                 next.chain_memory_bytes >> 20, next.shutdown_grace_seconds);
    // Keys that need a restart keep their running values.
    current.log_level = next.log_level;
    if (tls) current.tls = next.tls;
    current.captures = next.captures;
    current.link_wait_seconds = next.link_wait_seconds;
    current.link_retry_seconds = next.link_retry_seconds;
    current.link_idle_timeout_seconds = next.link_idle_timeout_seconds;
    current.chain_memory_bytes = next.chain_memory_bytes;
    current.shutdown_grace_seconds = next.shutdown_grace_seconds;
    current.allow_uids = next.allow_uids;
    current.allow_gids = next.allow_gids;
    return std::chrono::seconds(next.shutdown_grace_seconds);
}

std::vector<std::shared_ptr<OutgoingSnapshot>> unsettled(const SnapshotRegistry& registry) {
    std::vector<std::shared_ptr<OutgoingSnapshot>> out;
    for (auto& snapshot : registry.all())
        if (!snapshot->settled()) out.push_back(snapshot);
    return out;
}

}  // namespace

std::shared_ptr<link::LinkTls> start_link_tls(const ProxyOptions& options) {
    return link::start_link_tls(options.tls, link::TlsRole::client, options.cache.host, "img-cached");
}

LinkResumeSettings link_resume_settings(const ProxyOptions& options) {
    return {std::chrono::seconds(options.link_retry_seconds), std::chrono::seconds(options.link_idle_timeout_seconds)};
}

ServiceHooks make_proxy_hooks(ProxyParts parts, ProxyOptions& current, int argc, char** argv) {
    ServiceHooks hooks;
    hooks.load = [parts] {
        ServiceLoad load;
        for (const auto& snapshot : parts.registry.all()) {
            load.bytes += snapshot->bytes_read();
            if (!snapshot->settled()) ++load.active;
        }
        load.note = "link " + parts.link.describe();
        return load;
    };
    hooks.reload = [parts, &current, argc, argv]() mutable { return reload(parts, current, argc, argv); };
    hooks.stop_accepting = [parts] {
        parts.endpoints.close_all();
        parts.control.close();
    };
    hooks.in_flight = [parts] {
        std::vector<std::string> lines;
        for (const auto& s : unsettled(parts.registry))
            lines.push_back(fmt::format("dump of snapshot '{}' {} ({} files, {} bytes read, {} confirmed)", s->id(),
                                        state_name(s->state()), s->files(), s->bytes_read(), s->bytes_acked()));
        return lines;
    };
    hooks.fail_in_flight = [parts]() -> asio::awaitable<void> {
        for (const auto& s : unsettled(parts.registry))
            parts.link.abort_snapshot(s, "img-proxyd stopped before the dump finished (shutdown grace period over)");
        co_await parts.link.flush(kAbortFlush);
        parts.link.stop();
    };
    return hooks;
}

}  // namespace imgx::proxyd
