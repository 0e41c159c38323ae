// img-proxyd: takes image files from `criu dump --stream` and forwards them to img-cached.
#include "proxy_config.hpp"
#include "proxy_service.hpp"

int main(int argc, char** argv) {
    using imgx::proxyd::ProxyOptions;
    return imgx::run_daemon<ProxyOptions>(
        {.command = &imgx::proxyd::proxy_command_spec(),
         .peer = "img-cached",
         .passed_sockets = {"control"},
         .tls_server_name = [](const ProxyOptions& o) { return o.cache.host; },
         .prepare = {},
         .build = imgx::proxyd::build_proxy_daemon},
        argc, argv);
}
