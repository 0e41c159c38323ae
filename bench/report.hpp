// Turning scenario results into medians, a table for people and one JSON line per scenario.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "scenarios.hpp"

namespace imgx::bench {

// Medians over the runs of one scenario, in the units the report uses (GB = 1e9 bytes).
struct Summary {
    double dump_gbps = 0, restore_gbps = 0, baseline_gbps = 0, dump_to_baseline = 0;
    // The freeze (CRIU's dump time) and restore against the simplest possible endpoints, as
    // ratios of median times (1.0: as fast as the ideal one).
    double freeze_gbps = 0, ideal_sink_gbps = 0, freeze_to_ideal_sink = 0;
    double ideal_feeder_gbps = 0, restore_to_ideal_feeder = 0;
    // Migration downtime (dump start to restore end, the restore begun as the dump ended)
    // through the daemons and through local tmpfs files, in seconds, and their ratio.
    double downtime_seconds = 0, tmpfs_downtime_seconds = 0, downtime_to_tmpfs = 0;
    double proxyd_cpu_per_gb_dump = 0, proxyd_cpu_per_gb_restore = 0;
    double cached_cpu_per_gb_dump = 0, cached_cpu_per_gb_restore = 0;
    // CPU per file (microseconds): the whole CPU time over the file count, bytes included.
    double proxyd_us_per_file_dump = 0, cached_us_per_file_dump = 0;
    double cached_us_per_file_restore = 0;
    double proxyd_peak_rss_mib = 0, cached_peak_rss_mib = 0;
    double proxyd_faults_per_gb_dump = 0, cached_faults_per_gb_dump = 0;  // minor page faults
    double proxyd_faults_per_gb_restore = 0, cached_faults_per_gb_restore = 0;
    double cached_rss_target_mib = 0;  // 1.1 x the bytes held at once + 64 MiB
};

Summary summarize(const ScenarioResult& result);

// The table of every scenario (metrics down, scenarios across, targets at the right), then
// the missed targets and any failures.
void print_table(std::FILE* out, const std::vector<ScenarioResult>& results,
                 const std::string& heading);

// {"scenario":"1gib","ok":true,...}: medians plus the per-run samples.
std::string json_line(const ScenarioResult& result);

}  // namespace imgx::bench
