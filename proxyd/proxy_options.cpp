// img-proxyd command line: configuration files first, then flags (proxy_config.cpp lists them).
#include "proxy_options.hpp"

#include "proxy_config.hpp"

namespace imgx::proxyd {

ProxyCommand parse_proxy_command(int argc, char** argv, const std::string& default_config) {
    return parse_daemon_command(proxy_command_spec(), argc, argv, default_config);
}

bool parse_proxy_options(int argc, char** argv, ProxyCommand& out) {
    return parse_daemon_options(proxy_command_spec(), argc, argv, out);
}

}  // namespace imgx::proxyd
