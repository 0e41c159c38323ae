// A daemon's command line: configuration files first, then flags, all read through its settings
// table.
#pragma once

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "config/config_file.hpp"
#include "config/settings_table.hpp"
#include "config/settings_text.hpp"
#include "link/link_tls.hpp"
#include "link/tls_settings.hpp"
#include "metrics/metrics_settings.hpp"
#include "service/daemon_settings.hpp"
#include "util/cli.hpp"

namespace imgx {

// What the command line asks for.
enum class DaemonMode { run, check_config, print_config, help, version };

template <typename O>
struct DaemonCommand {
    DaemonMode mode = DaemonMode::run;
    O options;                              // complete and valid unless mode is help or version
    std::vector<std::string> config_files;  // read, in the order applied
    // Where the endpoints of options.endpoints came from: a reload re-opens only the files' ones.
    std::vector<EndpointSpec> file_endpoints;
    std::vector<EndpointSpec> flag_endpoints;
};

// How one daemon reads its command line and files.
template <typename O>
struct CommandSpec {
    const config::SettingsTable<O>* table = nullptr;
    config::UsageText usage;  // the daemon's name and default file are usage.program/default_config
    link::TlsRole role = link::TlsRole::client;
    // After files and flags are merged, before the TLS check: throws UsageError naming
    // `main_file` when the daemon's required address is missing.
    std::function<void(const O&, const std::string& main_file)> check_required;
    // After the TLS check: the daemon's own consistency checks; may be empty.
    std::function<void(const O&)> check;
};

// The flags that are not settings: which file to read and what to do.
struct CommandActions {
    std::string config;
    bool config_given = false;
    DaemonMode mode = DaemonMode::run;
};
void add_action_flags(ArgReader& args, CommandActions& actions);

// Prints what --help, --version, --check-config and --print-config ask for (`printed_config`
// and `usage` are the texts of those two); false when the daemon should run.
bool print_for_mode(DaemonMode mode, const std::string& program,
                    const std::vector<std::string>& files, const std::string& usage,
                    const std::string& printed_config);

// The options as a configuration file (--print-config).
template <typename O>
std::string format_daemon_config(const CommandSpec<O>& spec, const O& options) {
    return config::format_settings(
        *spec.table, options,
        "# " + spec.usage.program +
            ": the effective configuration (files, drop-ins and flags merged)\n");
}

template <typename O>
std::string daemon_usage(const CommandSpec<O>& spec) {
    return config::usage_text(spec.usage, config::setting_texts(*spec.table));
}

// Reads the configuration (`--config FILE`, else `default_config` if it exists, then the
// drop-ins `<file>.d/*.toml` in lexical order), then the flags, which win; endpoint tables and
// flags add up. Throws UsageError (config::ConfigError for a file) with one line.
template <typename O>
DaemonCommand<O> parse_daemon_command(const CommandSpec<O>& spec, int argc, char** argv,
                                      const std::string& default_config) {
    // First pass: which file, which action, and every flag checked before any file is read.
    O scratch;
    CommandActions actions;
    ArgReader first;
    add_action_flags(first, actions);
    config::add_setting_flags(*spec.table, first, scratch);
    first.parse(argc, argv);
    DaemonCommand<O> command;
    command.mode = actions.mode;
    if (command.mode == DaemonMode::help || command.mode == DaemonMode::version) return command;

    const std::string& main_file = actions.config_given ? actions.config : default_config;
    command.config_files =
        config::apply_files(main_file, actions.config_given, [&](const config::Section& document) {
            const link::TlsSettings before = command.options.tls;
            config::read_settings(*spec.table, document, command.options);
            link::layer_tls(before, command.options.tls, document.file());
        });
    command.file_endpoints = command.options.endpoints;
    command.flag_endpoints = scratch.endpoints;
    // Second pass: the flags, over what the files set.
    CommandActions ignored;
    ArgReader second;
    add_action_flags(second, ignored);
    config::add_setting_flags(*spec.table, second, command.options);
    const link::TlsSettings before_flags = command.options.tls;
    second.parse(argc, argv);
    link::layer_tls(before_flags, command.options.tls, "the command line");
    metrics::check_metrics_settings(command.options.metrics);
    if (spec.check_required) spec.check_required(command.options, main_file);
    link::check_tls_settings(command.options.tls, spec.role, main_file);
    if (spec.check) spec.check(command.options);
    return command;
}

// For main: parses with the default configuration file, prints --help, --version,
// --check-config and --print-config output, and returns false if the program should exit 0
// after that. Throws UsageError.
template <typename O>
bool parse_daemon_options(const CommandSpec<O>& spec, int argc, char** argv,
                          DaemonCommand<O>& out) {
    DaemonCommand<O> command = parse_daemon_command(spec, argc, argv, spec.usage.default_config);
    // Unusable TLS files are a configuration error, found here before logging starts: its one
    // line goes to stderr, which systemd attributes to the unit even when the process exits at
    // once (journal entries it sends itself then lose the unit), and --check-config fails alike.
    if (command.mode == DaemonMode::check_config || command.mode == DaemonMode::run)
        link::check_tls_files(command.options.tls, spec.role);
    if (command.mode == DaemonMode::check_config) {
        if (const auto note = link::ignored_tls_note(command.options.tls); !note.empty())
            std::printf("%s: note: %s\n", spec.usage.program.c_str(), note.c_str());
    }
    const std::string usage = command.mode == DaemonMode::help ? daemon_usage(spec) : std::string();
    const std::string printed = command.mode == DaemonMode::print_config
                                    ? format_daemon_config(spec, command.options)
                                    : std::string();
    if (print_for_mode(command.mode, spec.usage.program, command.config_files, usage, printed))
        return false;
    out = std::move(command);
    return true;
}

}  // namespace imgx
