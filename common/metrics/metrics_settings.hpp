// The metrics settings both daemons take: `--metrics ADDR:PORT` / `metrics`, and
// `--metrics-allow-remote` / `metrics_allow_remote` (documented in docs/configuration.md).
#pragma once

#include <string>

#include "config/setting.hpp"
#include "util/address.hpp"
#include "util/cli.hpp"

namespace imgx::metrics {

struct MetricsSettings {
    HostPort address;           // where /metrics is served; empty host: not served (the default)
    bool allow_remote = false;  // may `address` be other than loopback
};

// The rows of `metrics` and `metrics_allow_remote` for a daemon's settings table.
config::SettingsTable<MetricsSettings> metrics_setting_rows();
// After files and flags are merged: throws UsageError for a non-loopback address unless
// allowed (see check_metrics_exposure).
void check_metrics_settings(const MetricsSettings& settings);

}  // namespace imgx::metrics
