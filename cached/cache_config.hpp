// img-cached's settings table: every key and flag, and the configuration file written back.
#pragma once

#include <string>

#include "cache_options.hpp"
#include "config/config_file.hpp"

namespace imgx::cached {

inline constexpr const char* kDefaultCacheConfig = "/etc/img-cached/img-cached.toml";

// How img-cached reads its command line and files: its settings table, --help texts, checks.
const CommandSpec<CacheOptions>& cache_command_spec();

// Applies one file's document onto `out` (keys it sets override; [[serve]] entries are added).
// Throws config::ConfigError naming the file, line and key.
void apply_cache_config(const config::Section& document, CacheOptions& out);

// The options as a configuration file that apply_cache_config() reads back to the same options.
std::string format_cache_config(const CacheOptions& options);

}  // namespace imgx::cached
