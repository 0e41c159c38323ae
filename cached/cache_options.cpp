// img-cached command line.
#include "cache_options.hpp"

#include "util/cli.hpp"
#include "util/log.hpp"

#include <cstdio>
#include <cstdlib>

namespace imgx::cached {

namespace {

constexpr const char* kUsage =
    "usage: img-cached --listen ADDR:PORT [--serve DIR[=SNAPSHOT]]... [--control PATH]\n"
    "                  [--log-level LEVEL] [--remote-data pipe|socket] [--remote-wait SECONDS]\n"
    "\n"
    "Receives snapshots from img-proxyd and serves them to `criu restore --stream -D DIR` on\n"
    "DIR/streamer-serve.sock (while the dump may still be running), and to\n"
    "`criu restore --remote -D DIR` on DIR/img-cache.sock (once the dump has finished).\n"
    "\n"
    "  --listen ADDR:PORT    link address img-proxyd connects to, e.g. 127.0.0.1:7411, [::]:7411\n"
    "  --serve DIR[=ID]      listen in DIR; snapshot id ID, default the last component of DIR\n"
    "  --control PATH        control socket for img-ctl (default /run/img-cached/control.sock)\n"
    "  --log-level LEVEL     trace, debug, info, warning, error, critical, off (default info)\n"
    "  --remote-data MODE    how --remote restores read images: pipe (2020 builds, default)\n"
    "                        or socket (2017-2019 builds)\n"
    "  --remote-wait SECONDS longest a --remote read waits for its dump to finish, then error 5\n"
    "                        (default 600)\n"
    "\n"
    "For --remote, the endpoint's SNAPSHOT part names the pre-dump chain to answer pulls with\n"
    "(the same name as on img-proxyd).\n";

}  // namespace

bool parse_cache_options(int argc, char** argv, CacheOptions& out) {
    bool done = false;
    ArgReader args;
    bool listen_given = false;
    args.value("--listen", [&](std::string_view v) {
        out.listen = parse_host_port(v, /*allow_port_zero=*/true);
        listen_given = true;
    });
    args.value("--serve", [&](std::string_view v) { out.serves.push_back(parse_endpoint_spec(v)); });
    args.value("--control", [&](std::string_view v) {
        if (v.empty()) throw std::invalid_argument("empty path");
        out.control = std::string(v);
    });
    args.value("--log-level", [&](std::string_view v) { out.log_level = parse_log_level(v); });
    args.value("--remote-data", [&](std::string_view v) {
        if (v != "pipe" && v != "socket") throw std::invalid_argument("'" + printable(v) + "' is not pipe or socket");
        out.remote_reads_on_socket = v == "socket";
    });
    args.value("--remote-wait", [&](std::string_view v) {
        const std::string text(v);
        char* end = nullptr;
        const unsigned long value = std::strtoul(text.c_str(), &end, 10);
        if (text.empty() || *end || value == 0 || value > 7 * 86400)
            throw std::invalid_argument("'" + text + "' is not a number of seconds from 1 to 604800");
        out.remote_wait_seconds = static_cast<unsigned>(value);
    });
    args.toggle("--help", [&] {
        std::fputs(kUsage, stdout);
        done = true;
    });
    args.toggle("--version", [&] {
        std::puts("img-cached " IMGX_VERSION);
        done = true;
    });
    args.parse(argc, argv);
    if (!done && !listen_given) throw UsageError("--listen ADDR:PORT is required (see --help)");
    return !done;
}

}  // namespace imgx::cached
