// img-cached: receives snapshots from img-proxyd and serves them to `criu restore --stream`.
#include "cache_config.hpp"
#include "cache_service.hpp"

int main(int argc, char** argv) {
    return imgx::run_daemon<imgx::cached::CacheOptions>(
        {.command = &imgx::cached::cache_command_spec(),
         .peer = "img-proxyd",
         .passed_sockets = {"link", "control"},
         .tls_server_name = {},
         .prepare = imgx::cached::tune_memory,
         .build = imgx::cached::build_cache_daemon},
        argc, argv);
}
