// The standard process_* metrics of a Prometheus client (CPU, memory, fds, start time), read
// from /proc/self at each scrape.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "metrics/registry.hpp"

namespace imgx::metrics {

// The fields of /proc/self/stat the process_* metrics use, in their units.
struct ProcStat {
    double cpu_seconds = 0;            // utime + stime
    double start_after_boot = 0;       // starttime, seconds after boot
    std::uint64_t virtual_bytes = 0;   // vsize
    std::uint64_t resident_bytes = 0;  // rss pages * page size
};

// Parses a /proc/<pid>/stat line (the command name may hold spaces and parentheses); nothing when
// it is malformed. `ticks_per_second` and `page_size` convert the fields.
std::optional<ProcStat> parse_proc_stat(std::string_view line, long ticks_per_second,
                                        long page_size);

// Registers process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_start_time_seconds, process_open_fds and
// process_max_fds in `registry`.
void add_process_metrics(Registry& registry);

}  // namespace imgx::metrics
