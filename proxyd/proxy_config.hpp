// img-proxyd's settings table: every key and flag, and the configuration file written back.
#pragma once

#include <string>

#include "config/config_file.hpp"
#include "proxy_options.hpp"

namespace imgx::proxyd {

inline constexpr const char* kDefaultProxyConfig = "/etc/img-proxyd/img-proxyd.toml";

// How img-proxyd reads its command line and files: its settings table, --help texts, checks.
const CommandSpec<ProxyOptions>& proxy_command_spec();

// Applies one file's document onto `out` (keys it sets override; [[capture]] entries are added).
// Throws config::ConfigError naming the file, line and key.
void apply_proxy_config(const config::Section& document, ProxyOptions& out);

// The options as a configuration file that apply_proxy_config() reads back to the same options.
std::string format_proxy_config(const ProxyOptions& options);

}  // namespace imgx::proxyd
