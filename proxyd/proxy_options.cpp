// img-proxyd command line.
#include "proxy_options.hpp"

#include "util/cli.hpp"
#include "util/log.hpp"

#include <charconv>
#include <cstdio>

namespace imgx::proxyd {

namespace {

constexpr const char* kUsage =
    "usage: img-proxyd --cache HOST:PORT [--capture DIR[=SNAPSHOT]]... [--control PATH]\n"
    "                  [--log-level LEVEL] [--buffers N] [--link-wait SECONDS]\n"
    "                  [--remote-data pipe|socket] [--chain-memory MIB]\n"
    "\n"
    "Receives image files from `criu dump --stream -D DIR` on DIR/streamer-capture.sock, and from\n"
    "`criu dump/pre-dump --remote -D DIR` on DIR/img-proxy.sock, and forwards them to img-cached\n"
    "while CRIU writes them.\n"
    "\n"
    "  --cache HOST:PORT     img-cached's link address, e.g. dest.example:7411\n"
    "  --capture DIR[=ID]    listen in DIR; snapshot id ID, default the last component of DIR\n"
    "  --control PATH        control socket for img-ctl (default /run/img-proxyd/control.sock)\n"
    "  --log-level LEVEL     trace, debug, info, warning, error, critical, off (default info)\n"
    "  --buffers N           1 MiB chunks in flight, the proxy's data memory budget (default 16)\n"
    "  --link-wait SECONDS   how long a new dump waits for an unreachable img-cached (default 30)\n"
    "  --remote-data MODE    how --remote dumps read parent images: pipe (2020 builds, default)\n"
    "                        or socket (2017-2019 builds)\n"
    "  --chain-memory MIB    memory for images kept during --remote pre-dump chains (default 4096)\n"
    "\n"
    "For --remote, the endpoint's SNAPSHOT part names the chain: give every -D of one pre-dump\n"
    "chain the same one (e.g. --capture /srv/job/1=job --capture /srv/job/2=job).\n";

unsigned parse_count(std::string_view text, unsigned min, unsigned max) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max)
        throw std::invalid_argument("'" + printable(text) + "' is not a number from " + std::to_string(min) +
                                    " to " + std::to_string(max));
    return value;
}

}  // namespace

bool parse_proxy_options(int argc, char** argv, ProxyOptions& out) {
    bool done = false;
    ArgReader args;
    bool cache_given = false;
    args.value("--cache", [&](std::string_view v) {
        out.cache = parse_host_port(v);
        cache_given = true;
    });
    args.value("--capture", [&](std::string_view v) { out.captures.push_back(parse_endpoint_spec(v)); });
    args.value("--control", [&](std::string_view v) {
        if (v.empty()) throw std::invalid_argument("empty path");
        out.control = std::string(v);
    });
    args.value("--log-level", [&](std::string_view v) { out.log_level = parse_log_level(v); });
    args.value("--buffers", [&](std::string_view v) { out.buffer_count = parse_count(v, 2, 4096); });
    args.value("--link-wait", [&](std::string_view v) { out.link_wait_seconds = parse_count(v, 0, 86400); });
    args.value("--remote-data", [&](std::string_view v) {
        if (v != "pipe" && v != "socket") throw std::invalid_argument("'" + printable(v) + "' is not pipe or socket");
        out.remote_reads_on_socket = v == "socket";
    });
    args.value("--chain-memory", [&](std::string_view v) {
        out.chain_memory_bytes = std::uint64_t(parse_count(v, 1, 1u << 24)) << 20;
    });
    args.toggle("--help", [&] {
        std::fputs(kUsage, stdout);
        done = true;
    });
    args.toggle("--version", [&] {
        std::puts("img-proxyd " IMGX_VERSION);
        done = true;
    });
    args.parse(argc, argv);
    if (!done && !cache_given) throw UsageError("--cache HOST:PORT is required (see --help)");
    return !done;
}

}  // namespace imgx::proxyd
