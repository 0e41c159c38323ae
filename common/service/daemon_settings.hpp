// The settings both daemons have, and the rows of their settings tables that read them.
#pragma once

#include <spdlog/common.h>

#include <string>
#include <vector>

#include "config/setting.hpp"
#include "link/tls_settings.hpp"
#include "metrics/metrics_settings.hpp"
#include "util/names.hpp"

namespace imgx {

// Embedded (as the base) in each daemon's options; the daemon shell acts on these.
struct DaemonSettings {
    std::string control;  // control socket for img-ctl; each daemon sets its default
    spdlog::level::level_enum log_level = spdlog::level::info;
    unsigned shutdown_grace_seconds = config::kDefaultShutdownGraceSeconds;  // drain on SIGTERM
    std::vector<unsigned> allow_uids;  // may connect besides root and the daemon's own user
    std::vector<unsigned> allow_gids;
    metrics::MetricsSettings metrics;     // --metrics: off unless an address is given
    link::TlsSettings tls;                // the link: TLS, or plain TCP when said explicitly
    std::vector<EndpointSpec> endpoints;  // [[capture]] / [[serve]]: CRIU endpoints opened at start
};

// The endpoint list's key and flag ("capture", "--capture") and its meaning.
struct EndpointRowText {
    std::string key;
    std::string flag;
    std::string doc;
};

// A daemon's settings table: `address` (its required address row) first, then control,
// log_level, shutdown_grace_seconds, allow_uids, allow_gids, the daemon's own `rows`, metrics,
// the TLS rows of `role`, and the endpoint list last (the order --print-config writes).
template <typename O>
config::SettingsTable<O> daemon_settings_table(config::Setting<O> address,
                                               config::SettingsTable<O> rows, link::TlsRole role,
                                               const EndpointRowText& endpoints);

// The parts of that table that are DaemonSettings'.
config::SettingsTable<DaemonSettings> daemon_head_rows();
config::SettingsTable<DaemonSettings> daemon_tail_rows(link::TlsRole role,
                                                       const EndpointRowText& endpoints);

template <typename O>
config::SettingsTable<O> daemon_settings_table(config::Setting<O> address,
                                               config::SettingsTable<O> rows, link::TlsRole role,
                                               const EndpointRowText& endpoints) {
    config::SettingsTable<O> table;
    table.push_back(std::move(address));
    config::append_lifted(table, daemon_head_rows(), config::As<DaemonSettings>{});
    for (auto& row : rows) table.push_back(std::move(row));
    config::append_lifted(table, daemon_tail_rows(role, endpoints), config::As<DaemonSettings>{});
    return table;
}

}  // namespace imgx
