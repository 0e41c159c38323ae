// img-bench command line.
#pragma once

#include <string>
#include <vector>

#include "criu_stream_player.hpp"
#include "testbed.hpp"

namespace imgx::bench {

struct BenchOptions {
    DaemonPaths daemons{IMG_PROXYD_PATH, IMG_CACHED_PATH};
    std::vector<std::string> scenarios = {"1gib", "small", "concurrent"};
    unsigned size_mib = 1024;
    unsigned runs = 5;
    // Whole invocation; split evenly between the scenarios (keeps `img-bench` under ~5 minutes).
    unsigned time_limit_seconds = 240;
    PipeWriteMode write_mode = PipeWriteMode::vmsplice;
};

// Returns false after printing --help or --version. Throws UsageError for bad arguments.
bool parse_bench_options(int argc, char** argv, BenchOptions& out);

}  // namespace imgx::bench
