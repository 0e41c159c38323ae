// The rows of the settings both daemons share: control socket, log level, drain, access, metrics,
// TLS.
#include "service/daemon_settings.hpp"

#include "util/log.hpp"

namespace imgx {

namespace {

using S = DaemonSettings;

config::Setting<S> ids_row(config::SettingText text, std::vector<unsigned> S::*field) {
    text.kind = config::ValueKind::integers;
    text.repeatable = true;
    text.shared = true;
    const std::string key = text.key;
    return config::field_setting<S, std::vector<unsigned>>(
        std::move(text), field,
        [key, field](const config::Section& s, S& o) { config::read_ids(s, key, o.*field); },
        [field](std::string_view v, S& o) { (o.*field).push_back(config::parse_id(v)); },
        [field](const S& o) { return config::id_list(o.*field); });
}

config::Setting<S> log_level_row() {
    return config::field_setting<S, spdlog::level::level_enum>(
        {.key = "log_level",
         .flag = "--log-level",
         .flag_value = "LEVEL",
         .help = "trace, debug, info, warning, error, critical or off",
         .doc = "`trace`, `debug`, `info`, `warning`, `error`, `critical` or `off`",
         .shared = true},
        &S::log_level,
        [](const config::Section& s, S& o) {
            s.string("log_level", [&](std::string_view v) { o.log_level = parse_log_level(v); });
        },
        [](std::string_view v, S& o) { o.log_level = parse_log_level(v); },
        [](const S& o) { return config::quoted(config::log_level_name(o.log_level)); });
}

config::Setting<S> endpoints_row(const EndpointRowText& text) {
    const std::string key = text.key;
    return config::field_setting<S, std::vector<EndpointSpec>>(
        {.key = text.key,
         .flag = text.flag,
         .flag_value = "DIR[=SNAPSHOT]",
         .kind = config::ValueKind::tables,
         .default_text = "none",
         .help = "listen in DIR; snapshot id SNAPSHOT, default the last component of DIR",
         .doc = text.doc,
         .repeatable = true},
        &S::endpoints,
        [key](const config::Section& s, S& o) { config::read_endpoints(s, key, o.endpoints); },
        [](std::string_view v, S& o) { config::add_endpoint(o.endpoints, parse_endpoint_spec(v)); },
        [key](const S& o) { return config::format_endpoints(key, o.endpoints); });
}

}  // namespace

config::SettingsTable<DaemonSettings> daemon_head_rows() {
    config::SettingsTable<S> rows;
    rows.push_back(config::text_setting<S>({.key = "control",
                                            .flag = "--control",
                                            .flag_value = "PATH",
                                            .detail = "(path)",
                                            .help = "control socket for img-ctl",
                                            .doc = "control socket for img-ctl",
                                            .reload = config::OnReload::restart,
                                            .shared = true},
                                           &S::control, "path"));
    rows.push_back(log_level_row());
    rows.push_back(config::number_setting<S>(
        {.key = "shutdown_grace_seconds",
         .flag = "--shutdown-grace",
         .flag_value = "SECONDS",
         .help =
             "on SIGTERM, how long transfers in flight may take to finish before they are failed",
         .doc =
             "on SIGTERM, how long transfers in flight may take to finish before they are failed "
             "(docs/operations.md, \"Stop and drain\"); keep the unit's `TimeoutStopSec=` above it",
         .shared = true},
        &S::shutdown_grace_seconds, 0, config::kMaxShutdownGraceSeconds));
    rows.push_back(
        ids_row({.key = "allow_uids",
                 .flag = "--allow-uid",
                 .flag_value = "UID",
                 .help = "a user besides root and the daemon's own that may connect to its "
                         "sockets (CRIU endpoints, control); adds to allow_uids",
                 .doc = "users besides root and the daemon's own user that may connect to the "
                        "CRIU endpoints and the control socket (checked with SO_PEERCRED; the "
                        "socket files stay 0600, so such a user also needs the modes loosened, "
                        "e.g. a group-owned directory)"},
                &S::allow_uids));
    rows.push_back(
        ids_row({.key = "allow_gids",
                 .flag = "--allow-gid",
                 .flag_value = "GID",
                 .help = "the same for a group (the peer's primary group); adds to allow_gids",
                 .doc = "the same for groups: a peer whose primary group is listed may connect"},
                &S::allow_gids));
    return rows;
}

config::SettingsTable<DaemonSettings> daemon_tail_rows(link::TlsRole role,
                                                       const EndpointRowText& endpoints) {
    config::SettingsTable<S> rows;
    config::append_lifted(
        rows, metrics::metrics_setting_rows(), [](auto& o) -> auto& { return o.metrics; });
    config::append_lifted(
        rows, link::tls_setting_rows(role), [](auto& o) -> auto& { return o.tls; });
    rows.push_back(endpoints_row(endpoints));
    return rows;
}

}  // namespace imgx
