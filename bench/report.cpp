// Medians, the table and the JSON lines.
#include "report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "measure.hpp"

namespace imgx::bench {

namespace {

constexpr double kGB = 1e9;
constexpr double kMiB = 1024.0 * 1024.0;

// Targets for later work (docs/performance.md); the report shows where we are against them.
constexpr double kTargetDumpToBaseline = 0.8;
constexpr double kTargetConcurrentToSingle = 0.8;
constexpr double kTargetProxydCpuPerGb = 0.15;
constexpr double kTargetCachedCpuPerGb = 0.5;
constexpr double kTargetProxydRssMib = 64;
constexpr double kTargetCpuUsPerFile = 30;
constexpr double kTargetDowntimeToTmpfs = 1.1;  // small files (small, tree): each daemon
constexpr double kCachedRssFactor = 1.1;
constexpr double kCachedRssSlackMib = 64;

double median_of(const ScenarioResult& r, const std::function<double(const RunSample&)>& f) {
    std::vector<double> values;
    for (const auto& s : r.runs) values.push_back(f(s));
    return median(values);
}

std::string json_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
            out += c;
        }
    }
    return out;
}

std::string json_array(const ScenarioResult& r, const std::function<double(const RunSample&)>& f) {
    std::string out = "[";
    for (std::size_t i = 0; i < r.runs.size(); ++i)
        out += fmt::format("{}{:.4f}", i ? "," : "", f(r.runs[i]));
    return out + "]";
}

std::string human_bytes(std::uint64_t bytes) {
    if (bytes >= 1e9) return fmt::format("{:.2f} GB", static_cast<double>(bytes) / 1e9);
    return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
}

}  // namespace

Summary summarize(const ScenarioResult& r) {
    Summary s;
    const double gb = static_cast<double>(r.bytes) / kGB;
    s.cached_rss_target_mib =
        kCachedRssFactor * static_cast<double>(r.bytes) / kMiB + kCachedRssSlackMib;
    if (r.runs.empty()) return s;
    s.dump_gbps = gb / median_of(r, [](const RunSample& x) { return x.dump_seconds; });
    s.restore_gbps = gb / median_of(r, [](const RunSample& x) { return x.restore_seconds; });
    s.baseline_gbps = gb / median_of(r, [](const RunSample& x) { return x.baseline_seconds; });
    s.dump_to_baseline = s.dump_gbps / s.baseline_gbps;
    s.freeze_gbps = gb / median_of(r, [](const RunSample& x) { return x.freeze_seconds; });
    s.ideal_sink_gbps = gb / median_of(r, [](const RunSample& x) { return x.ideal_sink_seconds; });
    s.freeze_to_ideal_sink = s.ideal_sink_gbps / s.freeze_gbps;
    s.ideal_feeder_gbps =
        gb / median_of(r, [](const RunSample& x) { return x.ideal_feeder_seconds; });
    s.restore_to_ideal_feeder = s.ideal_feeder_gbps / s.restore_gbps;
    s.downtime_seconds = median_of(r, [](const RunSample& x) { return x.downtime_seconds; });
    s.tmpfs_downtime_seconds =
        median_of(r, [](const RunSample& x) { return x.tmpfs_downtime_seconds; });
    s.downtime_to_tmpfs = s.downtime_seconds / s.tmpfs_downtime_seconds;
    s.proxyd_cpu_per_gb_dump =
        median_of(r, [&](const RunSample& x) { return x.proxyd_cpu_dump / gb; });
    s.proxyd_cpu_per_gb_restore =
        median_of(r, [&](const RunSample& x) { return x.proxyd_cpu_restore / gb; });
    s.cached_cpu_per_gb_dump =
        median_of(r, [&](const RunSample& x) { return x.cached_cpu_dump / gb; });
    s.cached_cpu_per_gb_restore =
        median_of(r, [&](const RunSample& x) { return x.cached_cpu_restore / gb; });
    const double per_file_us = 1e6 / static_cast<double>(std::max<std::size_t>(1, r.files));
    s.proxyd_us_per_file_dump =
        median_of(r, [&](const RunSample& x) { return x.proxyd_cpu_dump * per_file_us; });
    s.cached_us_per_file_dump =
        median_of(r, [&](const RunSample& x) { return x.cached_cpu_dump * per_file_us; });
    s.cached_us_per_file_restore =
        median_of(r, [&](const RunSample& x) { return x.cached_cpu_restore * per_file_us; });
    s.proxyd_peak_rss_mib =
        median_of(r, [](const RunSample& x) { return x.proxyd_peak_rss / kMiB; });
    s.cached_peak_rss_mib =
        median_of(r, [](const RunSample& x) { return x.cached_peak_rss / kMiB; });
    s.proxyd_faults_per_gb_dump =
        median_of(r, [&](const RunSample& x) { return x.proxyd_faults_dump / gb; });
    s.cached_faults_per_gb_dump =
        median_of(r, [&](const RunSample& x) { return x.cached_faults_dump / gb; });
    s.proxyd_faults_per_gb_restore =
        median_of(r, [&](const RunSample& x) { return x.proxyd_faults_restore / gb; });
    s.cached_faults_per_gb_restore =
        median_of(r, [&](const RunSample& x) { return x.cached_faults_restore / gb; });
    return s;
}

void print_table(std::FILE* out, const std::vector<ScenarioResult>& results,
                 const std::string& heading) {
    std::vector<Summary> sums;
    for (const auto& r : results) sums.push_back(summarize(r));
    constexpr int kLabel = 34, kCell = 12;
    auto row = [&](const std::string& label, const std::function<std::string(std::size_t)>& cell,
                   const std::string& target = "", bool numeric = true) {
        std::string line = fmt::format("{:<{}}", label, kLabel);
        for (std::size_t i = 0; i < results.size(); ++i)
            line += fmt::format("{:>{}}", results[i].runs.empty() && numeric ? "failed" : cell(i),
                                kCell);
        if (!target.empty()) line += "   " + target;
        std::fprintf(out, "%s\n", line.c_str());
    };
    auto number = [&](double Summary::*field, const char* format) {
        return [&sums, field, format](std::size_t i) {
            return fmt::format(fmt::runtime(format), sums[i].*field);
        };
    };
    std::fprintf(out, "%s\n\n", heading.c_str());
    row(
        "", [&](std::size_t i) { return results[i].name; }, "target", false);
    row(
        "snapshot bytes", [&](std::size_t i) { return human_bytes(results[i].bytes); }, "", false);
    row(
        "files / snapshots",
        [&](std::size_t i) { return fmt::format("{}/{}", results[i].files, results[i].snapshots); },
        "", false);
    row(
        "runs", [&](std::size_t i) { return std::to_string(results[i].runs.size()); }, "", false);
    row("dump via daemons (GB/s)", number(&Summary::dump_gbps, "{:.3f}"));
    row("restore via img-cached (GB/s)", number(&Summary::restore_gbps, "{:.3f}"));
    row("baseline pipe+TCP (GB/s)", number(&Summary::baseline_gbps, "{:.3f}"));
    row("dump / baseline", number(&Summary::dump_to_baseline, "{:.3f}"),
        fmt::format(">= {} (1gib)", kTargetDumpToBaseline));
    row("freeze: CRIU's dump ends (GB/s)", number(&Summary::freeze_gbps, "{:.3f}"));
    row("ideal sink: poll + read (GB/s)", number(&Summary::ideal_sink_gbps, "{:.3f}"));
    row("freeze / ideal sink (time)", number(&Summary::freeze_to_ideal_sink, "{:.3f}"));
    row("ideal feeder: vmsplice (GB/s)", number(&Summary::ideal_feeder_gbps, "{:.3f}"));
    row("restore / ideal feeder (time)", number(&Summary::restore_to_ideal_feeder, "{:.3f}"));
    row("downtime: dump start..restore end (s)", number(&Summary::downtime_seconds, "{:.3f}"));
    row("same through local tmpfs (s)", number(&Summary::tmpfs_downtime_seconds, "{:.3f}"));
    row("downtime / local tmpfs (time)", number(&Summary::downtime_to_tmpfs, "{:.3f}"),
        fmt::format("<= {}", kTargetDowntimeToTmpfs));
    // Many migrations at once against one large one, both measured in this run.
    const auto single = std::find_if(results.begin(), results.end(),
                                     [](const auto& r) { return r.name == "1gib"; });
    auto to_single = [&](std::size_t i) {
        const std::size_t one = static_cast<std::size_t>(single - results.begin());
        if (single == results.end() || single->runs.empty() || sums[one].dump_gbps <= 0)
            return std::string("-");
        return fmt::format("{:.3f}", sums[i].dump_gbps / sums[one].dump_gbps);
    };
    row("dump / 1gib dump", to_single,
        fmt::format(">= {} (concurrent)", kTargetConcurrentToSingle));
    row("img-proxyd CPU-s/GB, dump", number(&Summary::proxyd_cpu_per_gb_dump, "{:.3f}"),
        fmt::format("<= {}", kTargetProxydCpuPerGb));
    row("img-proxyd CPU-s/GB, restore", number(&Summary::proxyd_cpu_per_gb_restore, "{:.3f}"));
    row("img-cached CPU-s/GB, dump", number(&Summary::cached_cpu_per_gb_dump, "{:.3f}"),
        fmt::format("<= {}", kTargetCachedCpuPerGb));
    row("img-cached CPU-s/GB, restore", number(&Summary::cached_cpu_per_gb_restore, "{:.3f}"));
    row("img-proxyd CPU us/file, dump", number(&Summary::proxyd_us_per_file_dump, "{:.1f}"),
        fmt::format("<= {} (small, tree)", kTargetCpuUsPerFile));
    row("img-cached CPU us/file, dump", number(&Summary::cached_us_per_file_dump, "{:.1f}"),
        fmt::format("<= {} (small, tree)", kTargetCpuUsPerFile));
    row("img-cached CPU us/file, restore", number(&Summary::cached_us_per_file_restore, "{:.1f}"));
    row("img-proxyd page faults/GB, dump", number(&Summary::proxyd_faults_per_gb_dump, "{:.0f}"));
    row("img-proxyd page faults/GB, restore",
        number(&Summary::proxyd_faults_per_gb_restore, "{:.0f}"));
    row("img-cached page faults/GB, dump", number(&Summary::cached_faults_per_gb_dump, "{:.0f}"));
    row("img-cached page faults/GB, restore",
        number(&Summary::cached_faults_per_gb_restore, "{:.0f}"));
    row("img-proxyd peak RSS (MiB)", number(&Summary::proxyd_peak_rss_mib, "{:.1f}"),
        fmt::format("< {}", kTargetProxydRssMib));
    row("img-cached peak RSS (MiB)", number(&Summary::cached_peak_rss_mib, "{:.1f}"),
        fmt::format("< {} x snapshot + {} MiB", kCachedRssFactor, kCachedRssSlackMib));
    row("  (that target, MiB)", number(&Summary::cached_rss_target_mib, "{:.1f}"));

    std::vector<std::string> missed;
    for (std::size_t i = 0; i < results.size(); ++i) {
        if (results[i].runs.empty()) continue;
        const auto& s = sums[i];
        const auto& name = results[i].name;
        if (name == "1gib" && s.dump_to_baseline < kTargetDumpToBaseline)
            missed.push_back(fmt::format("{}: dump / baseline {:.3f} < {}", name,
                                         s.dump_to_baseline, kTargetDumpToBaseline));
        if (name == "concurrent" && single != results.end() && !single->runs.empty()) {
            const double ratio =
                s.dump_gbps / sums[static_cast<std::size_t>(single - results.begin())].dump_gbps;
            if (ratio < kTargetConcurrentToSingle)
                missed.push_back(fmt::format("{}: dump {:.3f} of the 1gib dump < {}", name, ratio,
                                             kTargetConcurrentToSingle));
        }
        auto above = [&](double value, double limit, const char* what) {
            if (value > limit)
                missed.push_back(fmt::format("{}: {} {:.3f} > {}", name, what, value, limit));
        };
        above(s.proxyd_cpu_per_gb_dump, kTargetProxydCpuPerGb, "img-proxyd CPU-s/GB");
        above(s.downtime_to_tmpfs, kTargetDowntimeToTmpfs, "downtime / local tmpfs");
        above(s.cached_cpu_per_gb_dump, kTargetCachedCpuPerGb, "img-cached CPU-s/GB (dump)");
        if (name == "small" || name == "tree") {
            above(s.proxyd_us_per_file_dump, kTargetCpuUsPerFile, "img-proxyd CPU-us per file");
            above(s.cached_us_per_file_dump, kTargetCpuUsPerFile, "img-cached CPU-us per file");
        }
        if (s.proxyd_peak_rss_mib >= kTargetProxydRssMib)
            missed.push_back(fmt::format("{}: img-proxyd peak RSS {:.1f} MiB >= {}", name,
                                         s.proxyd_peak_rss_mib, kTargetProxydRssMib));
        if (s.cached_peak_rss_mib >= s.cached_rss_target_mib)
            missed.push_back(fmt::format("{}: img-cached peak RSS {:.1f} MiB >= {:.1f}", name,
                                         s.cached_peak_rss_mib, s.cached_rss_target_mib));
    }
    bool any_failed = false;
    for (const auto& r : results) any_failed = any_failed || !r.failures.empty();
    std::fprintf(out, "\n");
    if (missed.empty() && !any_failed) std::fprintf(out, "all targets met\n");
    for (const auto& m : missed) std::fprintf(out, "target missed: %s\n", m.c_str());
    for (const auto& r : results)
        for (const auto& f : r.failures)
            std::fprintf(out, "FAILED %s: %s\n", r.name.c_str(), f.c_str());
}

std::string json_line(const ScenarioResult& r) {
    const Summary s = summarize(r);
    std::string failures = "[";
    for (std::size_t i = 0; i < r.failures.size(); ++i)
        failures += fmt::format("{}\"{}\"", i ? "," : "", json_escape(r.failures[i]));
    failures += "]";
    return fmt::format(
        "{{\"scenario\":\"{}\",\"ok\":{},\"runs\":{},\"snapshots\":{},\"files\":{},\"bytes\":{},"
        "\"dump_gbps\":{:.4f},\"restore_gbps\":{:.4f},\"baseline_gbps\":{:.4f},\"dump_to_"
        "baseline\":{:.4f},\"freeze_to_ideal_sink\":{:.4f},\"restore_to_ideal_feeder\":{:.4f},"
        "\"proxyd_cpu_s_per_gb_dump\":{:.4f},\"proxyd_cpu_s_per_gb_restore\":{:.4f},"
        "\"cached_cpu_s_per_gb_dump\":{:.4f},\"cached_cpu_s_per_gb_restore\":{:.4f},"
        "\"proxyd_cpu_us_per_file_dump\":{:.1f},\"cached_cpu_us_per_file_dump\":{:.1f},"
        "\"cached_cpu_us_per_file_restore\":{:.1f},"
        "\"proxyd_peak_rss_mib\":{:.1f},\"cached_peak_rss_mib\":{:.1f},"
        "\"proxyd_faults_per_gb_dump\":{:.0f},\"cached_faults_per_gb_dump\":{:.0f},"
        "\"proxyd_faults_per_gb_restore\":{:.0f},\"cached_faults_per_gb_restore\":{:.0f},"
        "\"dump_seconds\":{},\"freeze_seconds\":{},\"ideal_sink_seconds\":{},"
        "\"restore_seconds\":{},\"ideal_feeder_seconds\":{},\"baseline_seconds\":{},"
        "\"downtime_to_tmpfs\":{:.4f},\"downtime_seconds\":{},\"tmpfs_downtime_seconds\":{},"
        "\"failures\":{}}}",
        json_escape(r.name), r.failures.empty() ? "true" : "false", r.runs.size(), r.snapshots,
        r.files, r.bytes, s.dump_gbps, s.restore_gbps, s.baseline_gbps, s.dump_to_baseline,
        s.freeze_to_ideal_sink, s.restore_to_ideal_feeder, s.proxyd_cpu_per_gb_dump,
        s.proxyd_cpu_per_gb_restore, s.cached_cpu_per_gb_dump, s.cached_cpu_per_gb_restore,
        s.proxyd_us_per_file_dump, s.cached_us_per_file_dump, s.cached_us_per_file_restore,
        s.proxyd_peak_rss_mib, s.cached_peak_rss_mib, s.proxyd_faults_per_gb_dump,
        s.cached_faults_per_gb_dump, s.proxyd_faults_per_gb_restore, s.cached_faults_per_gb_restore,
        json_array(r, [](const RunSample& x) { return x.dump_seconds; }),
        json_array(r, [](const RunSample& x) { return x.freeze_seconds; }),
        json_array(r, [](const RunSample& x) { return x.ideal_sink_seconds; }),
        json_array(r, [](const RunSample& x) { return x.restore_seconds; }),
        json_array(r, [](const RunSample& x) { return x.ideal_feeder_seconds; }),
        json_array(r, [](const RunSample& x) { return x.baseline_seconds; }), s.downtime_to_tmpfs,
        json_array(r, [](const RunSample& x) { return x.downtime_seconds; }),
        json_array(r, [](const RunSample& x) { return x.tmpfs_downtime_seconds; }), failures);
}

}  // namespace imgx::bench
