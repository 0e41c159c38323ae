// Reading CPU time (the process CPU clock) and peak RSS of the daemons.
#include "measure.hpp"

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace imgx::bench {

namespace {

std::string proc_path(pid_t pid, const char* file) {
    return "/proc/" + std::to_string(pid) + "/" + file;
}

}  // namespace

ProcessTimes process_times(pid_t pid) {
    std::ifstream in(proc_path(pid, "stat"));
    std::string line;
    if (!std::getline(in, line)) throw std::runtime_error("cannot read " + proc_path(pid, "stat"));
    // The command name (field 2) may contain spaces; fields after its closing ')' are plain.
    const auto close = line.rfind(')');
    if (close == std::string::npos)
        throw std::runtime_error("unexpected " + proc_path(pid, "stat"));
    std::istringstream fields(line.substr(close + 2));
    std::string skip;
    // After ')': state(3) ppid pgrp session tty_nr tpgid flags minflt(10) cminflt majflt cmajflt
    // utime(14) stime(15).
    for (int field = 3; field < 10; ++field) fields >> skip;
    unsigned long long minflt = 0, utime = 0, stime = 0;
    fields >> minflt;
    for (int field = 11; field < 14; ++field) fields >> skip;
    if (!(fields >> utime >> stime))
        throw std::runtime_error("unexpected " + proc_path(pid, "stat"));
    // The process's CPU-time clock counts nanoseconds (all threads, also exited ones); the
    // stat fields count clock ticks (10 ms), too coarse for a dump of a few tens of ms.
    clockid_t clock{};
    timespec cpu{};
    if (::clock_getcpuclockid(pid, &clock) == 0 && ::clock_gettime(clock, &cpu) == 0)
        return {static_cast<double>(cpu.tv_sec) + static_cast<double>(cpu.tv_nsec) * 1e-9, minflt};
    return {static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK)),
            minflt};
}

std::uint64_t peak_rss_bytes(pid_t pid) {
    std::ifstream in(proc_path(pid, "status"));
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmHWM:", 0) != 0) continue;
        std::istringstream value(line.substr(6));
        std::uint64_t kib = 0;
        value >> kib;
        return kib * 1024;
    }
    throw std::runtime_error("no VmHWM in " + proc_path(pid, "status"));
}

bool reset_peak_rss(pid_t pid) {
    std::ofstream out(proc_path(pid, "clear_refs"));
    out << "5\n";
    out.flush();
    return static_cast<bool>(out);
}

double median(std::vector<double> values) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const std::size_t mid = values.size() / 2;
    return values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

MachineTimes machine_times() {
    std::ifstream in("/proc/stat");
    MachineTimes out;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string name;
        fields >> name;
        if (name == "cpu") {
            // user nice system idle iowait irq softirq steal
            std::uint64_t value = 0, busy = 0, steal = 0;
            for (int i = 0; i < 8 && fields >> value; ++i) {
                if (i == 7)
                    steal = value;
                else if (i != 3 && i != 4)
                    busy += value;
            }
            const auto tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
            out.busy_seconds = static_cast<double>(busy) / tick;
            out.steal_seconds = static_cast<double>(steal) / tick;
        } else if (name.starts_with("cpu")) {
            ++out.cpus;
        }
    }
    return out;
}

}  // namespace imgx::bench
