// img-cached's settings and how the command line sets them.
#pragma once

#include "util/address.hpp"
#include "util/names.hpp"

#include <spdlog/common.h>

#include <string>
#include <vector>

namespace imgx::cached {

struct CacheOptions {
    HostPort listen;  // required
    std::vector<EndpointSpec> serves;
    std::string control = "/run/img-cached/control.sock";
    spdlog::level::level_enum log_level = spdlog::level::info;
    bool remote_reads_on_socket = false;  // --remote-data=socket: G2 form for --remote restores
    unsigned remote_wait_seconds = 600;   // longest an img-remote read waits for its dump
};

// Returns false if --help or --version was handled (exit 0). Throws UsageError.
bool parse_cache_options(int argc, char** argv, CacheOptions& out);

}  // namespace imgx::cached
