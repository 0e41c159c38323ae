// What img-bench reads about a process from /proc (CPU time, peak memory), and medians.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <vector>

namespace imgx::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double>(to - from).count();
}

// From /proc/PID/stat, for all threads of a process.
struct ProcessTimes {
    double cpu_seconds = 0;  // the process's CPU-time clock (ns; utime + stime if unavailable)
    std::uint64_t minor_faults = 0;  // minflt: pages faulted in, mostly fresh memory being touched
};

// Throws std::runtime_error if the process is gone.
ProcessTimes process_times(pid_t pid);

// CPU seconds all CPUs of the machine spent busy since boot (/proc/stat: user, nice, system,
// irq, softirq), the seconds the hypervisor gave them to others (steal), and the CPU count.
// Differences of two readings show how much of the machine a phase used, whoever used it (daemons,
// img-bench, the kernel's softirqs, others).
struct MachineTimes {
    double busy_seconds = 0;
    double steal_seconds = 0;
    int cpus = 0;
};
MachineTimes machine_times();

// VmHWM of `pid` (/proc/PID/status): the peak resident set size, in bytes.
std::uint64_t peak_rss_bytes(pid_t pid);

// Resets VmHWM to the current RSS (writes 5 to /proc/PID/clear_refs). Returns false if refused.
bool reset_peak_rss(pid_t pid);

// The median of `values` (the mean of the middle two for an even count); 0 when empty.
double median(std::vector<double> values);

}  // namespace imgx::bench
