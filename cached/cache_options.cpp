// img-cached command line: configuration files first, then flags.
#include "cache_options.hpp"

#include <cstdio>

#include "cache_config.hpp"
#include "config/setting_values.hpp"
#include "util/cli.hpp"
#include "util/log.hpp"

namespace imgx::cached {

namespace {

constexpr const char* kUsage =
    "usage: img-cached [--config FILE] [--listen ADDR:PORT] [--serve DIR[=SNAPSHOT]]...\n"
    "                  [--control PATH] [--log-level LEVEL] [--remote-data pipe|socket]\n"
    "                  [--remote-wait SECONDS] [--link-resume SECONDS] [--shutdown-grace SECONDS]\n"
    "                  [--metrics ADDR:PORT [--metrics-allow-remote]]\n"
    "                  [--allow-uid UID]... [--allow-gid GID]...\n"
    "                  [--state-dir DIR] [--spool-dir DIR] [--memory-budget MIB] [--prefault MIB]\n"
    "                  [--check-config | --print-config]\n"
    "\n"
    "Receives snapshots from img-proxyd and serves them to `criu restore --stream -D DIR` on\n"
    "DIR/streamer-serve.sock (while the dump may still be running), and to\n"
    "`criu restore --remote -D DIR` on DIR/img-cache.sock (once the dump has finished).\n"
    "\n"
    "  --config FILE         configuration file (default /etc/img-cached/img-cached.toml, if it\n"
    "                        exists), then FILE.d/*.toml in lexical order; flags override it\n"
    "  --check-config        validate the configuration files and flags, then exit (0 or 2)\n"
    "  --print-config        print the effective configuration as TOML, then exit\n"
    "  --listen ADDR:PORT    link address img-proxyd connects to, e.g. 127.0.0.1:7411, [::]:7411\n"
    "                        (required here or as `listen` in the configuration)\n"
    "  --serve DIR[=ID]      listen in DIR; snapshot id ID, default the last component of DIR\n"
    "  --control PATH        control socket for img-ctl (default /run/img-cached/control.sock)\n"
    "  --log-level LEVEL     trace, debug, info, warning, error, critical, off (default info)\n"
    "  --metrics ADDR:PORT   serve Prometheus metrics on http://ADDR:PORT/metrics (default off);\n"
    "                        a loopback address unless --metrics-allow-remote is given\n"
    "  --shutdown-grace SECONDS  on SIGTERM, how long transfers in flight may take to finish\n"
    "                        before they are failed (default 30)\n"
    "  --allow-uid UID       a user besides root and the daemon's own that may connect to its\n"
    "                        sockets (CRIU endpoints, control); repeatable, adds to allow_uids\n"
    "  --allow-gid GID       the same for a group (the peer's primary group)\n"
    "  --state-dir DIR       keep complete snapshots in DIR and serve them again after a restart\n"
    "                        (default: none, snapshots live in memory only)\n"
    "  --memory-budget MIB   image bytes kept in memory; beyond it they go to the state or spool\n"
    "                        directory (default 0: no limit)\n"
    "  --prefault MIB        at start, fault in MIB of memory for received images, so the first\n"
    "                        dump does not wait for fresh pages (default 0: none; at most the\n"
    "                        memory budget)\n"
    "  --spool-dir DIR       without --state-dir: where bytes beyond the memory budget go (default\n"
    "                        none: a dump that reaches the budget fails)\n"
    "  --remote-data MODE    how --remote restores read images: pipe (2020 builds, default)\n"
    "                        or socket (2017-2019 builds)\n"
    "  --remote-wait SECONDS longest a --remote read waits for its dump to finish, then error 5\n"
    "                        (default 600)\n"
    "  --link-resume SECONDS how long the dumps of a lost link wait for img-proxyd to reconnect\n"
    "                        and resume them before they fail (default 60; 0: fail at once)\n"
    "\n"
    "For --remote, the endpoint's SNAPSHOT part names the pre-dump chain to answer pulls with\n"
    "(the same name as on img-proxyd).\n";

// The flags that are not settings: which file to read and what to do.
struct Actions {
    std::string config;
    bool config_given = false;
    CacheMode mode = CacheMode::run;
};

// Every flag, setting `settings` and `actions`; read twice (see parse_cache_command).
ArgReader make_reader(CacheOptions& settings, Actions& actions) {
    ArgReader args;
    args.value("--config", [&](std::string_view v) {
        if (v.empty()) throw std::invalid_argument("empty path");
        actions.config = std::string(v);
        actions.config_given = true;
    });
    args.toggle("--check-config", [&] { actions.mode = CacheMode::check_config; });
    args.toggle("--print-config", [&] { actions.mode = CacheMode::print_config; });
    args.toggle("--help", [&] { actions.mode = CacheMode::help; });
    args.toggle("--version", [&] { actions.mode = CacheMode::version; });
    args.value("--listen", [&](std::string_view v) {
        settings.listen = parse_host_port(v, /*allow_port_zero=*/true);
    });
    args.value("--serve", [&](std::string_view v) {
        config::add_endpoint(settings.serves, parse_endpoint_spec(v));
    });
    args.value("--control", [&](std::string_view v) {
        if (v.empty()) throw std::invalid_argument("empty path");
        settings.control = std::string(v);
    });
    args.value("--log-level", [&](std::string_view v) { settings.log_level = parse_log_level(v); });
    metrics::add_metrics_flags(args, settings.metrics);
    link::add_tls_flags(args, settings.tls, link::TlsRole::server);
    args.value("--allow-uid", [&](std::string_view v) { settings.allow_uids.push_back(config::parse_id(v)); });
    args.value("--allow-gid", [&](std::string_view v) { settings.allow_gids.push_back(config::parse_id(v)); });
    args.value("--shutdown-grace", [&](std::string_view v) {
        settings.shutdown_grace_seconds = config::parse_number(v, 0, config::kMaxShutdownGraceSeconds);
    });
    args.value("--state-dir", [&](std::string_view v) { settings.state_dir = std::string(v); });
    args.value("--spool-dir", [&](std::string_view v) { settings.spool_dir = std::string(v); });
    args.value("--memory-budget", [&](std::string_view v) {
        settings.memory_budget_mib = config::parse_number(v, 0, kMaxMemoryBudgetMib);
    });
    args.value("--prefault", [&](std::string_view v) {
        settings.prefault_mib = config::parse_number(v, 0, kMaxMemoryBudgetMib);
    });
    args.value("--remote-data", [&](std::string_view v) {
        settings.remote_reads_on_socket = config::parse_remote_data_socket(v);
    });
    args.value("--remote-wait", [&](std::string_view v) {
        settings.remote_wait_seconds = config::parse_number(v, 1, kMaxRemoteWaitSeconds);
    });
    args.value("--link-resume", [&](std::string_view v) {
        settings.link_resume_seconds = config::parse_number(v, 0, kMaxLinkResumeSeconds);
    });
    return args;
}

// The pool never keeps more free memory than the budget, so a larger prefault could not be kept.
void check_prefault(const CacheOptions& options) {
    if (options.memory_budget_mib == 0 || options.prefault_mib <= options.memory_budget_mib) return;
    throw UsageError("prefault_mib (" + std::to_string(options.prefault_mib) +
                     ") is larger than memory_budget_mib (" + std::to_string(options.memory_budget_mib) +
                     "): lower the prefault or raise the budget");
}

}  // namespace

CacheCommand parse_cache_command(int argc, char** argv, const std::string& default_config) {
    // First pass: which file, which action, and every flag checked before any file is read.
    CacheOptions scratch;
    Actions actions;
    make_reader(scratch, actions).parse(argc, argv);
    CacheCommand command;
    command.mode = actions.mode;
    if (command.mode == CacheMode::help || command.mode == CacheMode::version) return command;

    const std::string& main_file = actions.config_given ? actions.config : default_config;
    command.config_files = config::apply_files(
        main_file, actions.config_given,
        [&](const config::Section& document) { apply_cache_config(document, command.options); });
    command.file_endpoints = command.options.serves;
    command.flag_endpoints = scratch.serves;
    // Second pass: the flags, over what the files set.
    Actions ignored;
    make_reader(command.options, ignored).parse(argc, argv);
    metrics::check_metrics_settings(command.options.metrics);
    if (command.options.listen.host.empty())
        throw UsageError(
            "no link address: give --listen ADDR:PORT or set listen = \"ADDR:PORT\" in " +
            main_file);
    link::check_tls_settings(command.options.tls, link::TlsRole::server, main_file);
    check_prefault(command.options);
    return command;
}

bool parse_cache_options(int argc, char** argv, CacheCommand& out) {
    CacheCommand command = parse_cache_command(argc, argv, kDefaultCacheConfig);
    switch (command.mode) {
        case CacheMode::help:
            std::fputs(kUsage, stdout);
            return false;
        case CacheMode::version:
            std::puts("img-cached " IMGX_VERSION);
            return false;
        case CacheMode::print_config:
            std::fputs(format_cache_config(command.options).c_str(), stdout);
            return false;
        case CacheMode::check_config: {
            std::string files;
            for (const auto& file : command.config_files)
                files += (files.empty() ? "" : ", ") + file;
            std::printf("img-cached: configuration is valid (%s)\n",
                        files.empty() ? "flags only, no configuration file" : files.c_str());
            return false;
        }
        case CacheMode::run:
            break;
    }
    out = std::move(command);
    return true;
}

}  // namespace imgx::cached
