// The metrics flags and configuration keys, the same for both daemons.
#include "metrics/metrics_settings.hpp"

#include "metrics/metrics_address.hpp"

namespace imgx::metrics {

config::SettingsTable<MetricsSettings> metrics_setting_rows() {
    using S = MetricsSettings;
    config::SettingsTable<S> rows;
    rows.push_back(config::field_setting<S, HostPort>(
        {.key = "metrics",
         .flag = "--metrics",
         .flag_value = "ADDR:PORT",
         .detail = "`ADDR:PORT`, `[IPv6]:PORT` or `\"\"`",
         .default_note = "off",
         .help = "serve Prometheus metrics on http://ADDR:PORT/metrics; a loopback address unless "
                 "--metrics-allow-remote is given",
         .doc = "serve Prometheus metrics on `http://ADDR:PORT/metrics`; ADDR is an IP address or "
                "`localhost`; port 0 picks a free port (the log line `metrics on ADDR:PORT` names "
                "it); docs/operations.md, \"Metrics\"",
         .reload = config::OnReload::restart,
         .shared = true},
        &S::address,
        [](const config::Section& s, S& o) {
            s.string("metrics", [&](std::string_view v) { o.address = parse_metrics_address(v); });
        },
        [](std::string_view v, S& o) { o.address = parse_metrics_address(v); },
        [](const S& o) {
            return config::quoted(o.address.host.empty() ? "" : o.address.to_string());
        }));
    rows.push_back(config::field_setting<S, bool>(
        {.key = "metrics_allow_remote",
         .flag = "--metrics-allow-remote",
         .kind = config::ValueKind::boolean,
         .help = "allow a --metrics address other than loopback",
         .doc = "allow a `metrics` address other than loopback (`127.0.0.0/8`, `::1`, "
                "`localhost`); without it such an address is a configuration error",
         .reload = config::OnReload::restart,
         .shared = true},
        &S::allow_remote,
        [](const config::Section& s, S& o) {
            s.boolean("metrics_allow_remote", [&](bool v) { o.allow_remote = v; });
        },
        [](std::string_view, S& o) { o.allow_remote = true; },
        [](const S& o) { return std::string(o.allow_remote ? "true" : "false"); }));
    return rows;
}

void check_metrics_settings(const MetricsSettings& settings) {
    check_metrics_exposure(settings.address, settings.allow_remote);
}

}  // namespace imgx::metrics
