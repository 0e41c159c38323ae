// img-proxyd's settings and how the command line sets them.
#pragma once

#include "util/address.hpp"
#include "util/names.hpp"

#include <spdlog/common.h>

#include <cstddef>
#include <string>
#include <vector>

namespace imgx::proxyd {

struct ProxyOptions {
    HostPort cache;  // required
    std::vector<EndpointSpec> captures;
    std::string control = "/run/img-proxyd/control.sock";
    spdlog::level::level_enum log_level = spdlog::level::info;
    std::size_t chunk_bytes = 1 << 20;       // one DATA frame at most
    std::size_t buffer_count = 16;           // chunks in flight: the memory budget for data
    unsigned link_wait_seconds = 30;         // how long a new dump waits for an absent link
    bool remote_reads_on_socket = false;     // --remote-data=socket: G2 form for dump-side reads
    std::uint64_t chain_memory_bytes = 4ull << 30;  // images kept for img-remote pre-dump chains
};

// Returns false if --help or --version was handled (exit 0). Throws UsageError.
bool parse_proxy_options(int argc, char** argv, ProxyOptions& out);

}  // namespace imgx::proxyd
