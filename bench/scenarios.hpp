// The benchmark scenarios and the measured loop every one of them runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "criu_stream_player.hpp"
#include "snapshot_image.hpp"
#include "testbed.hpp"

namespace imgx::bench {

struct Scenario {
    std::string name;
    std::string description;
    std::vector<SnapshotImage> images;  // dumped at the same time, one CRIU per image
    PlayerOptions player;
};

// One dump + restore + baseline, as measured.
struct RunSample {
    double dump_seconds = 0;    // first request .. img-proxyd reports the cache's acknowledgement
    double freeze_seconds = 0;  // first request .. CRIU's dump ends (every pipe written, closed)
    double ideal_sink_seconds = 0;    // the same freeze into the simplest possible sink
    double ideal_feeder_seconds = 0;  // a restore from the simplest possible feeder
    double restore_seconds = 0;       // first request .. every pipe at EOF
    double baseline_seconds = 0;
    double downtime_seconds = 0;        // dump start .. end of a restore begun as the dump ended
    double tmpfs_downtime_seconds = 0;  // the same through files in local tmpfs
    double proxyd_cpu_dump = 0, cached_cpu_dump = 0;  // CPU seconds during the dump
    double proxyd_cpu_restore = 0, cached_cpu_restore = 0;
    double bench_cpu_dump = 0;  // img-bench itself (CRIU's part) during the dump
    double machine_busy_dump = 0, machine_steal_dump = 0;  // all CPUs together, during the dump
    int machine_cpus = 0;
    double machine_busy_baseline = 0;  // all CPUs together, during the baseline
    std::uint64_t proxyd_peak_rss = 0, cached_peak_rss = 0;        // VmHWM, reset before each run
    std::uint64_t proxyd_faults_dump = 0, cached_faults_dump = 0;  // minor page faults
    std::uint64_t proxyd_faults_restore = 0, cached_faults_restore = 0;
};

struct ScenarioResult {
    std::string name;
    std::string description;
    std::size_t snapshots = 0;
    std::size_t files = 0;
    std::uint64_t bytes = 0;  // all snapshots together
    std::vector<RunSample> runs;
    std::vector<std::string> failures;  // empty if every run moved every byte correctly
};

// "1gib": one process with `pages_mib` MiB of pages and the small files around it.
Scenario make_single_process_scenario(std::size_t pages_mib);
// "small": 1000 files of 4-64 KiB, up to 8 pipes open at once.
Scenario make_small_files_scenario();
// "tree": a tree of 100 small processes dumped by one CRIU (about 700 files).
Scenario make_tree_scenario();
// "concurrent": 16 processes of 64 MiB each, dumped at once into 16 capture dirs.
Scenario make_concurrent_scenario();

// Starts a fresh daemon pair and measures up to `runs` dump/restore/baseline rounds; no new round
// starts once `budget_seconds` have passed (at least one always runs). A failed round is
// recorded in `failures` and ends the scenario.
ScenarioResult run_scenario(const Scenario& scenario, const DaemonPaths& paths, unsigned runs,
                            double budget_seconds);

}  // namespace imgx::bench
