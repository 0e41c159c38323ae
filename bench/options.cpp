// Parsing img-bench's flags.
#include "options.hpp"

#include <charconv>
#include <cstdio>

#include "util/cli.hpp"

namespace imgx::bench {

namespace {

constexpr const char* kUsage =
    "usage: img-bench [--scenario 1gib|small|tree|concurrent|all] [--size-mib N] [--runs N]\n"
    "                 [--time-limit S] [--pipe-write vmsplice|write] [--proxyd PATH] [--cached "
    "PATH]\n"
    "                 [--tls DIR] [--prefault MIB] [--streams N] [--lane-rate MBPS]\n"
    "                 [--slow-lane MBPS] [--capture-buffer MIB]\n"
    "\n"
    "Starts img-cached and img-proxyd on loopback, dumps generated snapshots through them as\n"
    "`criu dump --stream` would, restores them as `criu restore --stream` would, checks every\n"
    "byte, and compares with one plain pipe + loopback TCP stream. Prints medians as a table and\n"
    "one JSON line per scenario; exits 1 if any transfer failed or delivered wrong bytes.\n"
    "\n"
    "  --scenario NAME   1gib: one process with a large pages image; small: 1000 files of\n"
    "                    4-64 KiB; tree: 100 processes of 7 files (256 KiB of pages each)\n"
    "                    in one dump; concurrent: 64 dumps of 2-40 MiB at once; all (default)\n"
    "  --size-mib N      pages-1.img size for 1gib (default 1024)\n"
    "  --runs N          rounds per scenario; medians are reported (default 5)\n"
    "  --time-limit S    no new round once a scenario has used its share of what is left of\n"
    "                    S seconds; the table says how many rounds ran (default 240)\n"
    "  --pipe-write M    how page data enters the pipes: vmsplice (as CRIU, default) or write\n"
    "  --proxyd PATH     img-proxyd to measure (default: the one built beside img-bench)\n"
    "  --cached PATH     img-cached to measure (default: the one built beside img-bench)\n"
    "  --prefault MIB    start img-cached with --prefault MIB (image memory faulted in at its\n"
    "                    start; default: not given, so the first round receives into fresh pages)\n"
    "  --tls DIR         a TLS link with the certificates scripts/make-throwaway-pki DIR made\n"
    "                    (default: plain TCP); the baseline stays plain\n"
    "  --streams N       img-proxyd's --link-streams: TCP connections of the link, 1-16\n"
    "                    (default 1); the baseline stays one stream\n"
    "  --lane-rate MBPS  route the link through a relay that caps every connection at MBPS\n"
    "                    MB/s towards img-cached (default: no relay); the baseline is not capped\n"
    "  --slow-lane MBPS  the same relay, capping only the link's first connection (lane 0)\n"
    "  --capture-buffer MIB  img-proxyd's --capture-buffer (default: img-proxyd's default)\n";

unsigned parse_number(std::string_view text, unsigned min, unsigned max) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max)
        throw UsageError("'" + std::string(text) + "' is not a number from " + std::to_string(min) +
                         " to " + std::to_string(max));
    return value;
}

}  // namespace

bool parse_bench_options(int argc, char** argv, BenchOptions& out) {
    bool done = false;
    ArgReader args;
    args.value("--scenario", [&](std::string_view v) {
        if (v == "all")
            out.scenarios = {"1gib", "small", "tree", "concurrent"};
        else if (v == "1gib" || v == "small" || v == "tree" || v == "concurrent")
            out.scenarios = {std::string(v)};
        else
            throw UsageError("unknown scenario '" + std::string(v) +
                             "' (1gib, small, tree, concurrent, all)");
    });
    args.value("--size-mib", [&](std::string_view v) { out.size_mib = parse_number(v, 1, 16384); });
    args.value("--runs", [&](std::string_view v) { out.runs = parse_number(v, 1, 1000); });
    args.value("--time-limit",
               [&](std::string_view v) { out.time_limit_seconds = parse_number(v, 1, 86400); });
    args.value("--pipe-write", [&](std::string_view v) {
        if (v == "vmsplice")
            out.write_mode = PipeWriteMode::vmsplice;
        else if (v == "write")
            out.write_mode = PipeWriteMode::write;
        else
            throw UsageError("--pipe-write takes vmsplice or write");
    });
    args.value("--proxyd", [&](std::string_view v) { out.daemons.proxyd = std::string(v); });
    args.value("--cached", [&](std::string_view v) { out.daemons.cached = std::string(v); });
    args.value("--tls", [&](std::string_view v) { out.daemons.tls_dir = std::string(v); });
    args.value("--prefault", [&](std::string_view v) {
        out.daemons.cached_prefault_mib = parse_number(v, 0, 1 << 24);
    });
    args.value("--lane-rate", [&](std::string_view v) {
        out.daemons.shaping.every_mbps = parse_number(v, 1, 100000);
    });
    args.value("--slow-lane", [&](std::string_view v) {
        out.daemons.shaping.first_mbps = parse_number(v, 1, 100000);
    });
    args.value("--capture-buffer", [&](std::string_view v) {
        out.daemons.capture_buffer_mib = parse_number(v, 0, 1 << 20);
    });
    args.value("--streams",
               [&](std::string_view v) { out.daemons.streams = parse_number(v, 1, 16); });
    args.toggle("--help", [&] {
        std::fputs(kUsage, stdout);
        done = true;
    });
    args.toggle("--version", [&] {
        std::puts("img-bench " IMGX_VERSION);
        done = true;
    });
    args.parse(argc, argv);
    return !done;
}

}  // namespace imgx::bench
