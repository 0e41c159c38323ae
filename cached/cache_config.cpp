// img-cached's configuration keys (documented in docs/configuration.md).
#include "cache_config.hpp"

#include "config/setting_values.hpp"
#include "util/log.hpp"

namespace imgx::cached {

void apply_cache_config(const config::Section& document, CacheOptions& out) {
    document.only_keys(
        {"listen", "serve", "control", "log_level", "shutdown_grace_seconds", "allow_uids", "allow_gids", "remote_data", "remote_wait_seconds", "link_resume_seconds", "metrics", "metrics_allow_remote", "plain_tcp", "state_dir", "spool_dir", "memory_budget_mib", "prefault_mib", "tls_ca", "tls_cert", "tls_key", "tls_crl", "tls_min_version", "tls_allowed_clients"});
    document.string("listen", [&](std::string_view v) {
        out.listen = parse_host_port(v, /*allow_port_zero=*/true);
    });
    config::read_endpoints(document, "serve", out.serves);
    document.string("control", [&](std::string_view v) {
        if (v.empty()) throw std::invalid_argument("empty path");
        out.control = std::string(v);
    });
    document.string("log_level", [&](std::string_view v) { out.log_level = parse_log_level(v); });
    metrics::read_metrics_keys(document, out.metrics);
    link::read_tls_keys(document, out.tls, link::TlsRole::server);
    config::read_ids(document, "allow_uids", out.allow_uids);
    config::read_ids(document, "allow_gids", out.allow_gids);
    document.integer("shutdown_grace_seconds", 0, config::kMaxShutdownGraceSeconds,
                     [&](std::int64_t v) { out.shutdown_grace_seconds = static_cast<unsigned>(v); });
    document.string("state_dir", [&](std::string_view v) { out.state_dir = std::string(v); });
    document.string("spool_dir", [&](std::string_view v) { out.spool_dir = std::string(v); });
    document.integer("memory_budget_mib", 0, static_cast<std::int64_t>(kMaxMemoryBudgetMib),
                     [&](std::int64_t v) { out.memory_budget_mib = static_cast<std::uint64_t>(v); });
    document.integer("prefault_mib", 0, static_cast<std::int64_t>(kMaxMemoryBudgetMib),
                     [&](std::int64_t v) { out.prefault_mib = static_cast<std::uint64_t>(v); });
    document.string("remote_data", [&](std::string_view v) {
        out.remote_reads_on_socket = config::parse_remote_data_socket(v);
    });
    document.integer("remote_wait_seconds", 1, kMaxRemoteWaitSeconds,
                     [&](std::int64_t v) { out.remote_wait_seconds = static_cast<unsigned>(v); });
    document.integer("link_resume_seconds", 0, kMaxLinkResumeSeconds,
                     [&](std::int64_t v) { out.link_resume_seconds = static_cast<unsigned>(v); });
}

std::string format_cache_config(const CacheOptions& options) {
    std::string out =
        "# img-cached: the effective configuration (files, drop-ins and flags merged)\n";
    out += "listen = " + config::quoted(options.listen.to_string()) + "\n";
    out += "control = " + config::quoted(options.control) + "\n";
    out += "log_level = " + config::quoted(config::log_level_name(options.log_level)) + "\n";
    out += "shutdown_grace_seconds = " + std::to_string(options.shutdown_grace_seconds) + "\n";
    out += config::format_ids("allow_uids", options.allow_uids);
    out += config::format_ids("allow_gids", options.allow_gids);
    out += "remote_data = " +
           config::quoted(config::remote_data_name(options.remote_reads_on_socket)) + "\n";
    out += "remote_wait_seconds = " + std::to_string(options.remote_wait_seconds) + "\n";
    out += "state_dir = " + config::quoted(options.state_dir) + "\n";
    out += "spool_dir = " + config::quoted(options.spool_dir) + "\n";
    out += "memory_budget_mib = " + std::to_string(options.memory_budget_mib) + "\n";
    out += "prefault_mib = " + std::to_string(options.prefault_mib) + "\n";
    out += "link_resume_seconds = " + std::to_string(options.link_resume_seconds) + "\n";
    out += metrics::format_metrics_keys(options.metrics);
    out += link::format_tls_keys(options.tls, link::TlsRole::server);
    out += config::format_endpoints("serve", options.serves);
    return out;
}

}  // namespace imgx::cached
