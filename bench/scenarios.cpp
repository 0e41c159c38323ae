// Building the scenarios and measuring dump, restore and baseline rounds through the daemon pair.
#include "scenarios.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>
#include <utility>

#include "baseline.hpp"
#include "downtime.hpp"
#include "for_each_image.hpp"
#include "ideal_endpoints.hpp"
#include "measure.hpp"

namespace imgx::bench {

namespace {

using namespace std::chrono_literals;

// How long a dump may take to be acknowledged before the round counts as failed.
constexpr auto kAckTimeout = 180s;
constexpr std::uint64_t kSeed = 0x1f2e3d4c5b6a7988ULL;
constexpr std::size_t kMiB = 1 << 20;
constexpr std::size_t kKiB = 1 << 10;

constexpr std::size_t kSmallFileCount = 1000;
constexpr std::size_t kSmallFileMin = 4 * kKiB;
constexpr std::size_t kSmallFileMax = 64 * kKiB;
constexpr std::size_t kSmallFilePipes = 8;
// A process tree as issue "Migrations over real networks" measured with real CRIU: 100
// processes, about 25 MiB of memory, some 700 files.
constexpr std::size_t kTreeProcesses = 100;
constexpr std::size_t kTreePagesBytes = 256 * kKiB;
// 64 processes of mixed sizes (2, 6, 16 and 40 MiB of pages, in turn): 1 GiB in all, like the
// 1gib scenario, so that their throughputs compare.
constexpr std::size_t kConcurrentDumps = 64;
constexpr std::size_t kConcurrentPagesMiB[] = {2, 6, 16, 40};

struct DaemonTimes {
    ProcessTimes proxyd, cached;
};

DaemonTimes read_times(Testbed& bed) {
    return {process_times(bed.proxyd().pid()), process_times(bed.cached().pid())};
}

// The first file of `image` whose bytes differ in `copy`, or "" if every byte matches.
std::string first_mismatch(const SnapshotImage& image, const Arena& copy) {
    if (std::memcmp(image.arena().data(), copy.data(), image.total_bytes()) == 0) return {};
    for (const auto& f : image.files())
        if (std::memcmp(image.bytes(f), copy.data() + f.offset, f.size) != 0) return f.name;
    return "(unknown file)";
}

// Overwrites every copy before a path fills it, so that a check after it sees only what it wrote.
void scribble(const std::vector<Arena>& copies) {
    for (const auto& c : copies) std::memset(c.data(), 0xa5, c.size());
}

void check_copies(const Scenario& scenario, const std::vector<Arena>& copies, const char* path) {
    for (std::size_t i = 0; i < scenario.images.size(); ++i) {
        const auto bad = first_mismatch(scenario.images[i], copies[i]);
        if (!bad.empty())
            throw std::runtime_error(
                fmt::format("content mismatch after the {}: snapshot '{}', file {}", path,
                            scenario.images[i].id(), bad));
    }
}

struct Acknowledgement {
    std::string error;
    Clock::time_point at;
};

struct DumpTimes {
    double acknowledged = 0;  // until img-proxyd reports every dump acknowledged by img-cached
    double freeze = 0;        // until CRIU's dumps ended
    double restored = 0;      // with `then_restore`: until the last restore ended
};

// Dumps every image at once through the daemons. `then_restore`: each image's restore from
// img-cached starts as soon as its dump ended, into `copies` (a migration: img-cached serves
// pages as they arrive). The dump's SNAPSHOT_BEGIN went out before its first file, so the
// restore finds this dump, not the previous round's.
DumpTimes timed_dump(const Scenario& scenario, Testbed& bed,
                     const std::vector<Arena>* then_restore = nullptr) {
    std::future<Acknowledgement> acked;
    Clock::time_point start;
    double freeze = 0, restored = 0;
    try {
        // Waiting starts before the first request, so the control round trip is not on the clock.
        acked = std::async(std::launch::async, [&] {
            Acknowledgement a;
            for (const auto& image : scenario.images) {
                a.error = bed.wait_acknowledged(image.id());
                if (!a.error.empty()) break;
            }
            a.at = Clock::now();
            return a;
        });
        start = Clock::now();
        std::atomic<std::size_t> dumps_left{scenario.images.size()};
        std::atomic<double> dumped_at{0};
        for_each_image(scenario.images.size(), [&](std::size_t i) {
            play_dump(connect_stream_socket(bed.capture_socket(i)), scenario.images[i],
                      scenario.player);
            if (--dumps_left == 0) dumped_at = seconds_between(start, Clock::now());
            if (then_restore)
                play_restore(connect_stream_socket(bed.serve_socket(i)), scenario.images[i],
                             (*then_restore)[i], scenario.player);
        });
        restored = seconds_between(start, Clock::now());
        freeze = dumped_at;
        if (acked.wait_for(kAckTimeout) != std::future_status::ready)
            throw std::runtime_error(
                fmt::format("no acknowledgement from img-proxyd within {} s", kAckTimeout.count()));
    } catch (...) {
        bed.kill();  // unblocks the waiting control client
        if (acked.valid()) acked.wait();
        throw;
    }
    const Acknowledgement a = acked.get();
    if (!a.error.empty()) throw std::runtime_error("dump not acknowledged: " + a.error);
    return {seconds_between(start, a.at), freeze, restored};
}

// One ideal endpoint per image in the testbed's temp dir, serving with `serve(socket, i)`.
template <typename Serve>
std::vector<std::unique_ptr<OneShotEndpoint>> ideal_endpoints(const Scenario& scenario,
                                                              Testbed& bed, const char* kind,
                                                              Serve serve) {
    std::vector<std::unique_ptr<OneShotEndpoint>> out;
    for (std::size_t i = 0; i < scenario.images.size(); ++i)
        out.push_back(std::make_unique<OneShotEndpoint>(
            bed.scratch_path(fmt::format("{}-{}.sock", kind, i)),
            [serve, i](UniqueFd socket) { serve(std::move(socket), i); }));
    return out;
}

// CRIU's dump time (the freeze) into the simplest possible sink; the bytes land in `copies`.
double timed_ideal_dump(const Scenario& scenario, Testbed& bed, const std::vector<Arena>& copies) {
    auto sinks = ideal_endpoints(scenario, bed, "sink", [&](UniqueFd socket, std::size_t i) {
        sink_dump(std::move(socket), scenario.images[i], copies[i]);
    });
    const auto start = Clock::now();
    for_each_image(scenario.images.size(), [&](std::size_t i) {
        play_dump(connect_stream_socket(sinks[i]->path()), scenario.images[i], scenario.player);
    });
    const double freeze = seconds_between(start, Clock::now());
    for (auto& s : sinks) s->finish();
    return freeze;
}

// A restore from the simplest possible feeder (pre-loaded memory, vmsplice), into `copies`.
double timed_ideal_restore(const Scenario& scenario, Testbed& bed,
                           const std::vector<Arena>& copies) {
    auto feeders = ideal_endpoints(scenario, bed, "feeder", [&](UniqueFd socket, std::size_t i) {
        feed_restore(std::move(socket), scenario.images[i]);
    });
    const auto start = Clock::now();
    for_each_image(scenario.images.size(), [&](std::size_t i) {
        play_restore(connect_stream_socket(feeders[i]->path()), scenario.images[i], copies[i],
                     scenario.player);
    });
    const double restore = seconds_between(start, Clock::now());
    for (auto& f : feeders) f->finish();
    return restore;
}

double timed_restore(const Scenario& scenario, Testbed& bed, const std::vector<Arena>& copies) {
    const auto start = Clock::now();
    for_each_image(scenario.images.size(), [&](std::size_t i) {
        play_restore(connect_stream_socket(bed.serve_socket(i)), scenario.images[i], copies[i],
                     scenario.player);
    });
    return seconds_between(start, Clock::now());
}

RunSample run_once(const Scenario& scenario, Testbed& bed, const std::vector<Arena>& copies,
                   bool first) {
    // The proxy forgets the previous round's dumps, so that the wait below sees this round's.
    // The cache frees the previous round's snapshot when this round's dump of the id begins.
    if (!first)
        for (const auto& image : scenario.images) bed.forget_on_proxy(image.id());
    for (pid_t pid : {bed.proxyd().pid(), bed.cached().pid()})
        if (!reset_peak_rss(pid))
            std::fprintf(stderr, "img-bench: cannot reset the peak RSS of pid %d\n", pid);

    RunSample r;
    const DaemonTimes before_dump = read_times(bed);
    const ProcessTimes bench_before = process_times(::getpid());
    const MachineTimes machine_before = machine_times();
    const DumpTimes dumped = timed_dump(scenario, bed);
    r.dump_seconds = dumped.acknowledged;
    r.freeze_seconds = dumped.freeze;
    const MachineTimes machine_after = machine_times();
    const ProcessTimes bench_after = process_times(::getpid());
    const DaemonTimes after_dump = read_times(bed);
    r.bench_cpu_dump = bench_after.cpu_seconds - bench_before.cpu_seconds;
    r.machine_busy_dump = machine_after.busy_seconds - machine_before.busy_seconds;
    r.machine_steal_dump = machine_after.steal_seconds - machine_before.steal_seconds;
    r.machine_cpus = machine_after.cpus;
    scribble(copies);
    r.restore_seconds = timed_restore(scenario, bed, copies);
    const DaemonTimes after_restore = read_times(bed);
    r.proxyd_peak_rss = peak_rss_bytes(bed.proxyd().pid());
    r.cached_peak_rss = peak_rss_bytes(bed.cached().pid());
    r.proxyd_cpu_dump = after_dump.proxyd.cpu_seconds - before_dump.proxyd.cpu_seconds;
    r.cached_cpu_dump = after_dump.cached.cpu_seconds - before_dump.cached.cpu_seconds;
    r.proxyd_cpu_restore = after_restore.proxyd.cpu_seconds - after_dump.proxyd.cpu_seconds;
    r.cached_cpu_restore = after_restore.cached.cpu_seconds - after_dump.cached.cpu_seconds;
    r.proxyd_faults_dump = after_dump.proxyd.minor_faults - before_dump.proxyd.minor_faults;
    r.cached_faults_dump = after_dump.cached.minor_faults - before_dump.cached.minor_faults;
    r.proxyd_faults_restore = after_restore.proxyd.minor_faults - after_dump.proxyd.minor_faults;
    r.cached_faults_restore = after_restore.cached.minor_faults - after_dump.cached.minor_faults;
    check_copies(scenario, copies, "restore");

    std::vector<const Arena*> sources, sinks;
    for (std::size_t i = 0; i < scenario.images.size(); ++i) {
        sources.push_back(&scenario.images[i].arena());
        sinks.push_back(&copies[i]);
    }
    scribble(copies);
    const MachineTimes baseline_before = machine_times();
    r.baseline_seconds = run_baseline(sources, sinks, scenario.player.write_mode);
    r.machine_busy_baseline = machine_times().busy_seconds - baseline_before.busy_seconds;
    check_copies(scenario, copies, "baseline");
    scribble(copies);
    r.ideal_sink_seconds = timed_ideal_dump(scenario, bed, copies);
    check_copies(scenario, copies, "dump into the ideal sink");
    scribble(copies);
    r.ideal_feeder_seconds = timed_ideal_restore(scenario, bed, copies);
    check_copies(scenario, copies, "restore from the ideal feeder");

    // A migration as a user feels it: from the dump's start to the end of a restore that began
    // as soon as the dump ended, against the same through local tmpfs files.
    for (const auto& image : scenario.images) bed.forget_on_proxy(image.id());
    scribble(copies);
    r.downtime_seconds = timed_dump(scenario, bed, &copies).restored;
    check_copies(scenario, copies, "migration (restore right after the dump)");
    scribble(copies);
    r.tmpfs_downtime_seconds = timed_tmpfs_migration(scenario, copies);
    check_copies(scenario, copies, "migration through local tmpfs");
    return r;
}

}  // namespace

Scenario make_single_process_scenario(std::size_t pages_mib) {
    Scenario s;
    s.name = "1gib";
    s.description = fmt::format("one process: pages-1.img of {} MiB and 10 small files", pages_mib);
    s.images.push_back(make_process_image("bench", pages_mib * kMiB, kSeed));
    s.player.open_files = 2;
    return s;
}

Scenario make_small_files_scenario() {
    Scenario s;
    s.name = "small";
    s.description = fmt::format("{} files of {}-{} KiB, {} pipes open at once", kSmallFileCount,
                                kSmallFileMin / kKiB, kSmallFileMax / kKiB, kSmallFilePipes);
    s.images.push_back(
        make_many_small_files_image("bench", kSmallFileCount, kSmallFileMin, kSmallFileMax, kSeed));
    s.player.open_files = kSmallFilePipes;
    return s;
}

Scenario make_tree_scenario() {
    Scenario s;
    s.name = "tree";
    s.description = fmt::format("a tree of {} processes in one dump: 7 files each, {} KiB of pages",
                                kTreeProcesses, kTreePagesBytes / kKiB);
    s.images.push_back(make_process_tree_image("tree", kTreeProcesses, kTreePagesBytes, kSeed));
    s.player.open_files = 2;  // pagemap and pages, as CRIU
    return s;
}

Scenario make_concurrent_scenario() {
    Scenario s;
    s.name = "concurrent";
    s.description =
        fmt::format("{} processes of 2, 6, 16 or 40 MiB dumped at once into {} capture dirs",
                    kConcurrentDumps, kConcurrentDumps);
    constexpr std::size_t kSizes = std::size(kConcurrentPagesMiB);
    for (std::size_t i = 0; i < kConcurrentDumps; ++i)
        s.images.push_back(make_process_image(fmt::format("c{:02}", i),
                                              kConcurrentPagesMiB[i % kSizes] * kMiB, kSeed + i));
    s.player.open_files = 2;
    return s;
}

ScenarioResult run_scenario(const Scenario& scenario, const DaemonPaths& paths, unsigned runs,
                            double budget_seconds) {
    const auto started = Clock::now();
    ScenarioResult result;
    result.name = scenario.name;
    result.description = scenario.description;
    result.snapshots = scenario.images.size();
    for (const auto& image : scenario.images) {
        result.files += image.files().size();
        result.bytes += image.total_bytes();
    }
    std::vector<std::string> ids;
    std::vector<Arena> copies;  // where restores and the baseline put the bytes; faulted in once
    for (const auto& image : scenario.images) {
        ids.push_back(image.id());
        copies.emplace_back(image.total_bytes());
    }
    try {
        Testbed bed(paths, ids);
        for (unsigned run = 1; run <= runs; ++run) {
            const double spent = seconds_between(started, Clock::now());
            // Stop when the next round (as long as the average one so far) would overrun the
            // budget.
            if (run > 1 && spent + spent / (run - 1) > budget_seconds) {
                std::fprintf(stderr,
                             "img-bench: %s: stopping after %u runs (time budget of %.0f s)\n",
                             scenario.name.c_str(), run - 1, budget_seconds);
                break;
            }
            try {
                result.runs.push_back(run_once(scenario, bed, copies, run == 1));
            } catch (const std::exception& e) {
                std::string what = e.what();
                const auto dead = bed.casualties();
                if (!dead.empty()) what += " (" + dead + ")";
                result.failures.push_back(fmt::format("run {}: {}", run, what));
                break;
            }
            const auto& r = result.runs.back();
            const double gb = static_cast<double>(result.bytes) / 1e9;
            std::fprintf(
                stderr,
                "img-bench: %s run %u/%u: dump %.2f GB/s (freeze %.3f s, ideal sink %.3f s), "
                "restore %.2f GB/s (ideal feeder %.3f s), baseline %.2f GB/s; "
                "dump CPU-s/GB img-proxyd %.3f img-cached %.3f img-bench %.3f, img-cached page "
                "faults/GB "
                "%.0f; CPUs busy (of %d) during the dump %.2f (%.2f stolen), during the baseline "
                "%.2f\n",
                scenario.name.c_str(), run, runs, gb / r.dump_seconds, r.freeze_seconds,
                r.ideal_sink_seconds, gb / r.restore_seconds, r.ideal_feeder_seconds,
                gb / r.baseline_seconds, r.proxyd_cpu_dump / gb, r.cached_cpu_dump / gb,
                r.bench_cpu_dump / gb, static_cast<double>(r.cached_faults_dump) / gb,
                r.machine_cpus, r.machine_busy_dump / r.dump_seconds,
                r.machine_steal_dump / r.dump_seconds,
                r.machine_busy_baseline / r.baseline_seconds);
        }
    } catch (const std::exception& e) {
        result.failures.push_back(std::string("daemons: ") + e.what());
    }
    return result;
}

}  // namespace imgx::bench
