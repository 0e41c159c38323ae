// img-cached command line.
#include "cache_options.hpp"

#include "util/cli.hpp"
#include "util/log.hpp"

#include <cstdio>

namespace imgx::cached {

namespace {

constexpr const char* kUsage =
    "usage: img-cached [--listen ADDR:PORT] [--serve DIR[=SNAPSHOT]]... [--control PATH]\n"
    "                  [--log-level LEVEL]\n"
    "\n"
    "Receives snapshots from img-proxyd and serves them to `criu restore --stream -D DIR`\n"
    "on DIR/streamer-serve.sock, while the dump may still be running.\n"
    "\n"
    "  --listen ADDR:PORT    link address for img-proxyd (default 127.0.0.1:7411; [::]:7411 for all)\n"
    "  --serve DIR[=ID]      listen in DIR; snapshot id ID, default the last component of DIR\n"
    "  --control PATH        control socket for img-ctl (default /run/img-cached/control.sock)\n"
    "  --log-level LEVEL     trace, debug, info, warning, error, critical, off (default info)\n";

}  // namespace

bool parse_cache_options(int argc, char** argv, CacheOptions& out) {
    bool done = false;
    ArgReader args;
    args.value("--listen", [&](std::string_view v) { out.listen = parse_host_port(v, /*allow_port_zero=*/true); });
    args.value("--serve", [&](std::string_view v) { out.serves.push_back(parse_endpoint_spec(v)); });
    args.value("--control", [&](std::string_view v) {
        if (v.empty()) throw std::invalid_argument("empty path");
        out.control = std::string(v);
    });
    args.value("--log-level", [&](std::string_view v) { out.log_level = parse_log_level(v); });
    args.toggle("--help", [&] {
        std::fputs(kUsage, stdout);
        done = true;
    });
    args.toggle("--version", [&] {
        std::puts("img-cached " IMGX_VERSION);
        done = true;
    });
    args.parse(argc, argv);
    return !done;
}

}  // namespace imgx::cached
