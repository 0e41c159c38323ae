// img-proxyd's settings and how the configuration files and the command line set them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "link/chunk_compression.hpp"
#include "service/daemon_command.hpp"
#include "service/daemon_settings.hpp"
#include "util/address.hpp"

namespace imgx::proxyd {

// Limits of the settings, the same for a flag and its configuration key.
inline constexpr unsigned kMinBuffers = 2;
inline constexpr unsigned kMaxBuffers = 4096;
inline constexpr unsigned kMaxLinkWaitSeconds = 86400;
inline constexpr unsigned kMaxLinkRetrySeconds = 86400;
inline constexpr unsigned kMaxLinkIdleTimeoutSeconds = 3600;
inline constexpr unsigned kMaxChainMemoryMib = 1u << 24;
inline constexpr unsigned kMaxLinkStreams = 16;
inline constexpr unsigned kMaxCaptureBufferMib = 1u << 20;

// The shared settings (endpoints: the [[capture]] endpoints) and img-proxyd's own.
struct ProxyOptions : DaemonSettings {
    ProxyOptions() { control = "/run/img-proxyd/control.sock"; }

    HostPort cache;  // required (from --cache or the configuration); empty host: not given
    std::size_t chunk_bytes = 1 << 20;  // one DATA frame at most
    std::size_t buffer_count = 16;      // chunks in flight: the memory budget for data
    // CRIU's pipes drained into this much memory (MiB) on a thread of its own (0: on the loop,
    // with `buffers`); faulted in at start by the capture thread, and kept.
    unsigned capture_buffer_mib = 256;
    unsigned link_wait_seconds = 30;   // how long a new dump waits for an absent link
    unsigned link_retry_seconds = 60;  // how long a lost link may take to resume (0: fail at once)
    unsigned link_idle_timeout_seconds = 15;  // a link without answers this long counts as stalled
    unsigned link_streams = 1;                // TCP connections (lanes) per link session
    link::CompressMode compress = link::CompressMode::automatic;  // chunk compression on the link
    int compress_level = link::kDefaultCompressLevel;             // zstd level
    bool remote_reads_on_socket = false;  // --remote-data=socket: G2 form for dump-side reads
    std::uint64_t chain_memory_bytes = 4ull << 30;  // images kept for img-remote pre-dump chains
};

using ProxyMode = DaemonMode;
using ProxyCommand = DaemonCommand<ProxyOptions>;

// Reads the configuration (`--config FILE`, else `default_config` if it exists, then the
// drop-ins `<file>.d/*.toml` in lexical order), then the flags, which win; [[capture]] entries
// and --capture flags add up. Throws UsageError (config::ConfigError for a file) with one line.
ProxyCommand parse_proxy_command(int argc, char** argv, const std::string& default_config);

// For main: parses with the default configuration file, prints --help, --version,
// --check-config and --print-config output, and returns false if the program should exit 0
// after that. Throws UsageError.
bool parse_proxy_options(int argc, char** argv, ProxyCommand& out);

}  // namespace imgx::proxyd
