// img-proxyd's configuration keys (documented in docs/configuration.md).
#include "proxy_config.hpp"

#include "config/setting_values.hpp"
#include "util/log.hpp"

namespace imgx::proxyd {

void apply_proxy_config(const config::Section& document, ProxyOptions& out) {
    document.only_keys({"cache", "capture", "control", "log_level", "shutdown_grace_seconds", "allow_uids", "allow_gids", "buffers", "link_wait_seconds", "link_retry_seconds", "link_idle_timeout_seconds", "link_streams",
                        "remote_data", "chain_memory_mib", "metrics", "metrics_allow_remote", "plain_tcp", "tls_ca", "tls_cert", "tls_key", "tls_crl", "tls_min_version", "tls_server_name"});
    document.string("cache", [&](std::string_view v) { out.cache = parse_host_port(v); });
    config::read_endpoints(document, "capture", out.captures);
    document.string("control", [&](std::string_view v) {
        if (v.empty()) throw std::invalid_argument("empty path");
        out.control = std::string(v);
    });
    document.string("log_level", [&](std::string_view v) { out.log_level = parse_log_level(v); });
    metrics::read_metrics_keys(document, out.metrics);
    link::read_tls_keys(document, out.tls, link::TlsRole::client);
    config::read_ids(document, "allow_uids", out.allow_uids);
    config::read_ids(document, "allow_gids", out.allow_gids);
    document.integer("shutdown_grace_seconds", 0, config::kMaxShutdownGraceSeconds,
                     [&](std::int64_t v) { out.shutdown_grace_seconds = static_cast<unsigned>(v); });
    document.integer("buffers", kMinBuffers, kMaxBuffers,
                     [&](std::int64_t v) { out.buffer_count = v; });
    document.integer("link_wait_seconds", 0, kMaxLinkWaitSeconds,
                     [&](std::int64_t v) { out.link_wait_seconds = static_cast<unsigned>(v); });
    document.integer("link_retry_seconds", 0, kMaxLinkRetrySeconds,
                     [&](std::int64_t v) { out.link_retry_seconds = static_cast<unsigned>(v); });
    document.integer("link_idle_timeout_seconds", 1, kMaxLinkIdleTimeoutSeconds,
                     [&](std::int64_t v) { out.link_idle_timeout_seconds = static_cast<unsigned>(v); });
    document.integer("link_streams", 1, kMaxLinkStreams,
                     [&](std::int64_t v) { out.link_streams = static_cast<unsigned>(v); });
    document.string("remote_data", [&](std::string_view v) {
        out.remote_reads_on_socket = config::parse_remote_data_socket(v);
    });
    document.integer("chain_memory_mib", 1, kMaxChainMemoryMib,
                     [&](std::int64_t v) { out.chain_memory_bytes = std::uint64_t(v) << 20; });
}

std::string format_proxy_config(const ProxyOptions& options) {
    std::string out =
        "# img-proxyd: the effective configuration (files, drop-ins and flags merged)\n";
    out += "cache = " + config::quoted(options.cache.to_string()) + "\n";
    out += "control = " + config::quoted(options.control) + "\n";
    out += "log_level = " + config::quoted(config::log_level_name(options.log_level)) + "\n";
    out += "shutdown_grace_seconds = " + std::to_string(options.shutdown_grace_seconds) + "\n";
    out += config::format_ids("allow_uids", options.allow_uids);
    out += config::format_ids("allow_gids", options.allow_gids);
    out += "buffers = " + std::to_string(options.buffer_count) + "\n";
    out += "link_wait_seconds = " + std::to_string(options.link_wait_seconds) + "\n";
    out += "link_retry_seconds = " + std::to_string(options.link_retry_seconds) + "\n";
    out += "link_idle_timeout_seconds = " + std::to_string(options.link_idle_timeout_seconds) + "\n";
    out += "link_streams = " + std::to_string(options.link_streams) + "\n";
    out += "remote_data = " +
           config::quoted(config::remote_data_name(options.remote_reads_on_socket)) + "\n";
    out += "chain_memory_mib = " + std::to_string(options.chain_memory_bytes >> 20) + "\n";
    out += metrics::format_metrics_keys(options.metrics);
    out += link::format_tls_keys(options.tls, link::TlsRole::client);
    out += config::format_endpoints("capture", options.captures);
    return out;
}

}  // namespace imgx::proxyd
