// img-cached command line: configuration files first, then flags (cache_config.cpp lists them).
#include "cache_options.hpp"

#include "cache_config.hpp"

namespace imgx::cached {

CacheCommand parse_cache_command(int argc, char** argv, const std::string& default_config) {
    return parse_daemon_command(cache_command_spec(), argc, argv, default_config);
}

bool parse_cache_options(int argc, char** argv, CacheCommand& out) {
    return parse_daemon_options(cache_command_spec(), argc, argv, out);
}

}  // namespace imgx::cached
