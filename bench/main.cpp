// img-bench: measures the daemon pair end to end against a plain pipe + TCP baseline.
#include <fmt/format.h>

#include <csignal>
#include <cstdio>

#include "measure.hpp"
#include "options.hpp"
#include "report.hpp"
#include "scenarios.hpp"
#include "util/cli.hpp"

using namespace imgx;
using namespace imgx::bench;

namespace {

// Builds a scenario's content (untimed: generated and faulted in before the first round).
Scenario build(const std::string& name, const BenchOptions& options) {
    Scenario s = name == "1gib"    ? make_single_process_scenario(options.size_mib)
                 : name == "small" ? make_small_files_scenario()
                 : name == "tree"  ? make_tree_scenario()
                                   : make_concurrent_scenario();
    s.player.write_mode = options.write_mode;
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    BenchOptions options;
    try {
        if (!parse_bench_options(argc, argv, options)) return 0;
    } catch (const UsageError& e) {
        std::fprintf(stderr, "img-bench: %s\n", e.what());
        return kExitUsage;
    }
    // A daemon that closes a pipe early must show up as an error, not kill the benchmark.
    std::signal(SIGPIPE, SIG_IGN);

    std::vector<ScenarioResult> results;
    const auto started = Clock::now();
    for (const auto& name : options.scenarios) {
        std::fprintf(stderr, "img-bench: generating scenario %s\n", name.c_str());
        ScenarioResult result;
        try {
            const Scenario scenario = build(name, options);
            // What is left of the time limit, shared by this scenario and the ones after it.
            const double left = static_cast<double>(options.time_limit_seconds) -
                                seconds_between(started, Clock::now());
            const double budget =
                left / static_cast<double>(options.scenarios.size() - results.size());
            result = run_scenario(scenario, options.daemons, options.runs, budget);
        } catch (const std::exception& e) {
            result.name = name;
            result.failures.push_back(e.what());
        }
        results.push_back(std::move(result));
    }

    const std::string heading = fmt::format(
        "img-bench {}: medians of {} run(s); GB = 1e9 bytes; page data enters the pipes with {}\n"
        "img-proxyd: {}{}\nimg-cached: {}{}\nlink: {}, {} stream(s), {}",
        IMGX_VERSION, options.runs,
        options.write_mode == PipeWriteMode::vmsplice ? "vmsplice" : "write",
        options.daemons.proxyd,
        options.daemons.capture_buffer_mib
            ? fmt::format(" --capture-buffer {}", *options.daemons.capture_buffer_mib)
            : std::string(),
        options.daemons.cached,
        options.daemons.cached_prefault_mib > 0
            ? fmt::format(" --prefault {}", options.daemons.cached_prefault_mib)
            : std::string(),
        options.daemons.tls_dir.empty() ? std::string("plain TCP")
                                        : "TLS, certificates in " + options.daemons.tls_dir,
        options.daemons.streams, options.daemons.shaping.describe());
    print_table(stdout, results, heading);
    std::printf("\n");
    bool ok = true;
    for (const auto& r : results) {
        std::printf("%s\n", json_line(r).c_str());
        ok = ok && r.failures.empty();
    }
    return ok ? 0 : 1;
}
