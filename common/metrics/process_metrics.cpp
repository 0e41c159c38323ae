// The process_* metrics, read from /proc/self (the names and units of the Prometheus clients).
#include "metrics/process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace imgx::metrics {

namespace {

// /proc/self/stat's fields after the command name start at field 3 (state).
constexpr std::size_t kFirstField = 3;
constexpr std::size_t kUtime = 14, kStime = 15, kStartTime = 22, kVsize = 23, kRss = 24;

std::optional<ProcStat> read_self_stat() {
    std::ifstream in("/proc/self/stat");
    std::string line;
    if (!std::getline(in, line)) return std::nullopt;
    return parse_proc_stat(line, ::sysconf(_SC_CLK_TCK), ::sysconf(_SC_PAGESIZE));
}

// The boot time in seconds since the epoch (btime in /proc/stat); 0 when unknown.
double boot_time() {
    std::ifstream in("/proc/stat");
    std::string key;
    double value = 0;
    while (in >> key) {
        if (key == "btime" && in >> value) return value;
        in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    }
    return 0;
}

double open_fds() {
    std::error_code ec;
    double count = 0;
    for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
         it.increment(ec))
        ++count;
    return count > 0 ? count - 1 : 0;  // the iterator's own descriptor
}

double max_fds() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 0;
    return static_cast<double>(limit.rlim_cur);
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view line, long ticks_per_second,
                                        long page_size) {
    const auto close = line.rfind(')');
    if (close == std::string_view::npos || ticks_per_second <= 0 || page_size <= 0)
        return std::nullopt;
    std::istringstream fields{std::string(line.substr(close + 1))};
    std::vector<std::string> values;
    for (std::string v; fields >> v;) values.push_back(std::move(v));
    if (values.size() <= kRss - kFirstField) return std::nullopt;
    auto number = [&](std::size_t field) -> std::optional<std::uint64_t> {
        const std::string& text = values[field - kFirstField];
        std::uint64_t out = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
        if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
        return out;
    };
    const auto utime = number(kUtime), stime = number(kStime), start = number(kStartTime),
               vsize = number(kVsize), rss = number(kRss);
    if (!utime || !stime || !start || !vsize || !rss) return std::nullopt;
    const auto ticks = static_cast<double>(ticks_per_second);
    return ProcStat{.cpu_seconds = static_cast<double>(*utime + *stime) / ticks,
                    .start_after_boot = static_cast<double>(*start) / ticks,
                    .virtual_bytes = *vsize,
                    .resident_bytes = *rss * static_cast<std::uint64_t>(page_size)};
}

void add_process_metrics(Registry& registry) {
    const auto at_start = read_self_stat();
    const double start_time = at_start ? boot_time() + at_start->start_after_boot : 0;
    registry.counter_reader("process_cpu_seconds_total",
                            "Total user and system CPU time spent in seconds.", [] {
                                const auto s = read_self_stat();
                                return s ? s->cpu_seconds : 0.0;
                            });
    registry.gauge_reader("process_resident_memory_bytes", "Resident memory size in bytes.", [] {
        const auto s = read_self_stat();
        return s ? static_cast<double>(s->resident_bytes) : 0.0;
    });
    registry.gauge_reader("process_virtual_memory_bytes", "Virtual memory size in bytes.", [] {
        const auto s = read_self_stat();
        return s ? static_cast<double>(s->virtual_bytes) : 0.0;
    });
    registry.gauge_reader("process_start_time_seconds",
                          "Start time of the process since unix epoch in seconds.",
                          [start_time] { return start_time; });
    registry.gauge_reader("process_open_fds", "Number of open file descriptors.", open_fds);
    registry.gauge_reader("process_max_fds", "Maximum number of open file descriptors.", max_fds);
}

}  // namespace imgx::metrics
