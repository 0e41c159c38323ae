// img-proxyd command line: configuration files first, then flags.
#include "proxy_options.hpp"

#include <cstdio>

#include "config/setting_values.hpp"
#include "proxy_config.hpp"
#include "util/cli.hpp"
#include "util/log.hpp"

namespace imgx::proxyd {

namespace {

constexpr const char* kUsage =
    "usage: img-proxyd [--config FILE] [--cache HOST:PORT] [--capture DIR[=SNAPSHOT]]...\n"
    "                  [--control PATH] [--log-level LEVEL] [--buffers N] [--link-wait SECONDS]\n"
    "                  [--link-retry SECONDS] [--link-idle-timeout SECONDS] [--link-streams N]\n"
    "                  [--remote-data pipe|socket] [--chain-memory MIB] [--shutdown-grace SECONDS]\n"
    "                  [--metrics ADDR:PORT [--metrics-allow-remote]]\n"
    "                  [--allow-uid UID]... [--allow-gid GID]...\n"
    "                  [--check-config | --print-config]\n"
    "\n"
    "Receives image files from `criu dump --stream -D DIR` on DIR/streamer-capture.sock, and from\n"
    "`criu dump/pre-dump --remote -D DIR` on DIR/img-proxy.sock, and forwards them to img-cached\n"
    "while CRIU writes them.\n"
    "\n"
    "  --config FILE         configuration file (default /etc/img-proxyd/img-proxyd.toml, if it\n"
    "                        exists), then FILE.d/*.toml in lexical order; flags override it\n"
    "  --check-config        validate the configuration files and flags, then exit (0 or 2)\n"
    "  --print-config        print the effective configuration as TOML, then exit\n"
    "  --cache HOST:PORT     img-cached's link address, e.g. dest.example:7411 (required here\n"
    "                        or as `cache` in the configuration)\n"
    "  --capture DIR[=ID]    listen in DIR; snapshot id ID, default the last component of DIR\n"
    "  --control PATH        control socket for img-ctl (default /run/img-proxyd/control.sock)\n"
    "  --log-level LEVEL     trace, debug, info, warning, error, critical, off (default info)\n"
    "  --metrics ADDR:PORT   serve Prometheus metrics on http://ADDR:PORT/metrics (default off);\n"
    "                        a loopback address unless --metrics-allow-remote is given\n"
    "  --shutdown-grace SECONDS  on SIGTERM, how long transfers in flight may take to finish\n"
    "                        before they are failed (default 30)\n"
    "  --allow-uid UID       a user besides root and the daemon's own that may connect to its\n"
    "                        sockets (CRIU endpoints, control); repeatable, adds to allow_uids\n"
    "  --allow-gid GID       the same for a group (the peer's primary group)\n"
    "  --buffers N           1 MiB chunks in flight, the proxy's data memory budget (default 16)\n"
    "  --link-wait SECONDS   how long a new dump waits for an unreachable img-cached (default 30)\n"
    "  --link-retry SECONDS  how long a lost link may take to reconnect and resume its dumps\n"
    "                        before they fail (default 60; 0: fail at once)\n"
    "  --link-idle-timeout SECONDS  a link with no answer from img-cached this long counts as\n"
    "                        lost and is reconnected (default 15)\n"
    "  --link-streams N      TCP connections to img-cached, 1-16; file data goes to the least\n"
    "                        loaded one (default 1)\n"
    "  --remote-data MODE    how --remote dumps read parent images: pipe (2020 builds, default)\n"
    "                        or socket (2017-2019 builds)\n"
    "  --chain-memory MIB    memory for images kept during --remote pre-dump chains (default "
    "4096)\n"
    "\n"
    "For --remote, the endpoint's SNAPSHOT part names the chain: give every -D of one pre-dump\n"
    "chain the same one (e.g. --capture /srv/job/1=job --capture /srv/job/2=job).\n";

// The flags that are not settings: which file to read and what to do.
struct Actions {
    std::string config;
    bool config_given = false;
    ProxyMode mode = ProxyMode::run;
};

// Every flag, setting `settings` and `actions`; read twice (see parse_proxy_command).
ArgReader make_reader(ProxyOptions& settings, Actions& actions) {
    ArgReader args;
    args.value("--config", [&](std::string_view v) {
        if (v.empty()) throw std::invalid_argument("empty path");
        actions.config = std::string(v);
        actions.config_given = true;
    });
    args.toggle("--check-config", [&] { actions.mode = ProxyMode::check_config; });
    args.toggle("--print-config", [&] { actions.mode = ProxyMode::print_config; });
    args.toggle("--help", [&] { actions.mode = ProxyMode::help; });
    args.toggle("--version", [&] { actions.mode = ProxyMode::version; });
    args.value("--cache", [&](std::string_view v) { settings.cache = parse_host_port(v); });
    args.value("--capture", [&](std::string_view v) {
        config::add_endpoint(settings.captures, parse_endpoint_spec(v));
    });
    args.value("--control", [&](std::string_view v) {
        if (v.empty()) throw std::invalid_argument("empty path");
        settings.control = std::string(v);
    });
    args.value("--log-level", [&](std::string_view v) { settings.log_level = parse_log_level(v); });
    metrics::add_metrics_flags(args, settings.metrics);
    link::add_tls_flags(args, settings.tls, link::TlsRole::client);
    args.value("--allow-uid", [&](std::string_view v) { settings.allow_uids.push_back(config::parse_id(v)); });
    args.value("--allow-gid", [&](std::string_view v) { settings.allow_gids.push_back(config::parse_id(v)); });
    args.value("--shutdown-grace", [&](std::string_view v) {
        settings.shutdown_grace_seconds = config::parse_number(v, 0, config::kMaxShutdownGraceSeconds);
    });
    args.value("--buffers", [&](std::string_view v) {
        settings.buffer_count = config::parse_number(v, kMinBuffers, kMaxBuffers);
    });
    args.value("--link-wait", [&](std::string_view v) {
        settings.link_wait_seconds = config::parse_number(v, 0, kMaxLinkWaitSeconds);
    });
    args.value("--link-retry", [&](std::string_view v) {
        settings.link_retry_seconds = config::parse_number(v, 0, kMaxLinkRetrySeconds);
    });
    args.value("--link-idle-timeout", [&](std::string_view v) {
        settings.link_idle_timeout_seconds = config::parse_number(v, 1, kMaxLinkIdleTimeoutSeconds);
    });
    args.value("--link-streams", [&](std::string_view v) {
        settings.link_streams = config::parse_number(v, 1, kMaxLinkStreams);
    });
    args.value("--remote-data", [&](std::string_view v) {
        settings.remote_reads_on_socket = config::parse_remote_data_socket(v);
    });
    args.value("--chain-memory", [&](std::string_view v) {
        settings.chain_memory_bytes = std::uint64_t(config::parse_number(v, 1, kMaxChainMemoryMib))
                                      << 20;
    });
    return args;
}

}  // namespace

ProxyCommand parse_proxy_command(int argc, char** argv, const std::string& default_config) {
    // First pass: which file, which action, and every flag checked before any file is read.
    ProxyOptions scratch;
    Actions actions;
    make_reader(scratch, actions).parse(argc, argv);
    ProxyCommand command;
    command.mode = actions.mode;
    if (command.mode == ProxyMode::help || command.mode == ProxyMode::version) return command;

    const std::string& main_file = actions.config_given ? actions.config : default_config;
    command.config_files = config::apply_files(
        main_file, actions.config_given,
        [&](const config::Section& document) { apply_proxy_config(document, command.options); });
    command.file_endpoints = command.options.captures;
    command.flag_endpoints = scratch.captures;
    // Second pass: the flags, over what the files set.
    Actions ignored;
    make_reader(command.options, ignored).parse(argc, argv);
    metrics::check_metrics_settings(command.options.metrics);
    if (command.options.cache.host.empty())
        throw UsageError(
            "no img-cached address: give --cache HOST:PORT or set cache = \"HOST:PORT\" in " +
            main_file);
    link::check_tls_settings(command.options.tls, link::TlsRole::client, main_file);
    return command;
}

bool parse_proxy_options(int argc, char** argv, ProxyCommand& out) {
    ProxyCommand command = parse_proxy_command(argc, argv, kDefaultProxyConfig);
    switch (command.mode) {
        case ProxyMode::help:
            std::fputs(kUsage, stdout);
            return false;
        case ProxyMode::version:
            std::puts("img-proxyd " IMGX_VERSION);
            return false;
        case ProxyMode::print_config:
            std::fputs(format_proxy_config(command.options).c_str(), stdout);
            return false;
        case ProxyMode::check_config: {
            std::string files;
            for (const auto& file : command.config_files)
                files += (files.empty() ? "" : ", ") + file;
            std::printf("img-proxyd: configuration is valid (%s)\n",
                        files.empty() ? "flags only, no configuration file" : files.c_str());
            return false;
        }
        case ProxyMode::run:
            break;
    }
    out = std::move(command);
    return true;
}

}  // namespace imgx::proxyd
