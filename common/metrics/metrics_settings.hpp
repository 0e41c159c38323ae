// The metrics settings both daemons take: `--metrics ADDR:PORT` / `metrics`, and
// `--metrics-allow-remote` / `metrics_allow_remote` (documented in docs/configuration.md).
#pragma once

#include <string>

#include "config/config_file.hpp"
#include "util/address.hpp"
#include "util/cli.hpp"

namespace imgx::metrics {

struct MetricsSettings {
    HostPort address;           // where /metrics is served; empty host: not served (the default)
    bool allow_remote = false;  // may `address` be other than loopback
};

// Registers --metrics and --metrics-allow-remote.
void add_metrics_flags(ArgReader& args, MetricsSettings& settings);
// Reads the keys `metrics` and `metrics_allow_remote` (the caller lists them as known keys).
void read_metrics_keys(const config::Section& document, MetricsSettings& settings);
// The same keys as configuration lines that read back to `settings`.
std::string format_metrics_keys(const MetricsSettings& settings);
// After files and flags are merged: throws UsageError for a non-loopback address unless
// allowed (see check_metrics_exposure).
void check_metrics_settings(const MetricsSettings& settings);

}  // namespace imgx::metrics
