// img-cached's settings and how the configuration files and the command line set them.
#pragma once

#include <cstdint>
#include <string>

#include "service/daemon_command.hpp"
#include "service/daemon_settings.hpp"
#include "util/address.hpp"

namespace imgx::cached {

// Limits of the settings, the same for a flag and its configuration key.
inline constexpr unsigned kMaxRemoteWaitSeconds = 7 * 86400;
inline constexpr unsigned kMaxServeWaitSeconds = 7 * 86400;
inline constexpr unsigned kMaxMemoryBudgetMib = 1U << 24;  // 16 TiB
inline constexpr unsigned kMaxLinkResumeSeconds = 86400;

// The shared settings (endpoints: the [[serve]] endpoints) and img-cached's own.
struct CacheOptions : DaemonSettings {
    CacheOptions() { control = "/run/img-cached/control.sock"; }

    HostPort listen;  // required (from --listen or the configuration); empty host: not given
    bool remote_reads_on_socket = false;  // --remote-data=socket: G2 form for --remote restores
    unsigned remote_wait_seconds = 600;   // longest an img-remote read waits for its dump
    unsigned serve_wait_seconds = 300;    // a restore's wait for its dump to begin; 0: forever
    unsigned link_resume_seconds = 60;    // how long a lost link's session waits for a resume
    std::string state_dir;  // complete snapshots kept here across restarts; "": memory only
    std::string spool_dir;  // without state_dir: where bytes beyond the memory budget go
    std::uint64_t memory_budget_mib = 0;  // image bytes in memory; 0: no limit
    std::uint64_t prefault_mib = 0;       // image memory faulted in at start; 0: none
};

using CacheMode = DaemonMode;
using CacheCommand = DaemonCommand<CacheOptions>;

// Reads the configuration (`--config FILE`, else `default_config` if it exists, then the
// drop-ins `<file>.d/*.toml` in lexical order), then the flags, which win; [[serve]] entries
// and --serve flags add up. Throws UsageError (config::ConfigError for a file) with one line.
CacheCommand parse_cache_command(int argc, char** argv, const std::string& default_config);

// For main: parses with the default configuration file, prints --help, --version,
// --check-config and --print-config output, and returns false if the program should exit 0
// after that. Throws UsageError.
bool parse_cache_options(int argc, char** argv, CacheCommand& out);

}  // namespace imgx::cached
