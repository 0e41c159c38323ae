// The metrics flags and configuration keys, the same for both daemons.
#include "metrics/metrics_settings.hpp"

#include "metrics/metrics_address.hpp"

namespace imgx::metrics {

void add_metrics_flags(ArgReader& args, MetricsSettings& settings) {
    args.value("--metrics", [&](std::string_view v) { settings.address = parse_metrics_address(v); });
    args.toggle("--metrics-allow-remote", [&] { settings.allow_remote = true; });
}

void read_metrics_keys(const config::Section& document, MetricsSettings& settings) {
    document.string("metrics", [&](std::string_view v) { settings.address = parse_metrics_address(v); });
    document.boolean("metrics_allow_remote", [&](bool v) { settings.allow_remote = v; });
}

std::string format_metrics_keys(const MetricsSettings& settings) {
    const std::string address = settings.address.host.empty() ? "" : settings.address.to_string();
    return "metrics = " + config::quoted(address) + "\n" +
           "metrics_allow_remote = " + (settings.allow_remote ? "true" : "false") + "\n";
}

void check_metrics_settings(const MetricsSettings& settings) {
    check_metrics_exposure(settings.address, settings.allow_remote);
}

}  // namespace imgx::metrics
