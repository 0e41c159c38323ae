// Soak test (not part of the suite; scripts/soak runs it): COUNT small migrations through one
// daemon pair with a fault relay on its link, each of a random kind: complete, link-faulted
// (corrupt byte, cut, stall), aborted (CRIU gone mid-file, before inventory.img), replaced (a
// new dump of the id while the old one is half written), dropped, or with a restore client
// vanishing. Every restore must get exactly the bytes the dump wrote or fail loudly (its
// connection closed), never other bytes. Every IMG_SOAK_SAMPLE migrations (default 500) it
// samples both daemons' RSS and open fds and img-cached's memory and held bytes; at the end
// everything is dropped and img-cached must hold nothing. Prints counts per kind and outcome and
// the samples. IMG_SOAK_COUNT (default 100) and IMG_SOAK_SEED (default 1) choose the run.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include "support/content.hpp"
#include "support/criu_client.hpp"
#include "support/daemon_waits.hpp"
#include "support/generated_dump.hpp"
#include "support/log_wait.hpp"
#include "support/metrics_scrape.hpp"
#include "support/pipe_writer.hpp"
#include "support/relayed_pair.hpp"

using namespace imgtest;

namespace {

constexpr auto kTimeout = seconds(20);
constexpr std::size_t kMaxFileBytes = 300'000;
constexpr int kMaxFiles = 4;
constexpr int kMaxStallMillis = 400;

const std::vector<std::string> kIds = {"job1", "job2"};

enum class Fault { none, corrupt, cut, stall, dump_vanishes, restore_vanishes, replaced, dropped };
constexpr Fault kFaults[] = {Fault::none,     Fault::corrupt,       Fault::cut,
                             Fault::stall,    Fault::dump_vanishes, Fault::restore_vanishes,
                             Fault::replaced, Fault::dropped};

const char* name_of(Fault fault) {
    switch (fault) {
        case Fault::none:
            return "none";
        case Fault::corrupt:
            return "corrupt";
        case Fault::cut:
            return "cut";
        case Fault::stall:
            return "stall";
        case Fault::dump_vanishes:
            return "dump client vanishes";
        case Fault::restore_vanishes:
            return "restore client vanishes";
        case Fault::replaced:
            return "replaced mid-dump";
        case Fault::dropped:
            return "dropped";
    }
    return "?";
}

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
    const char* value = std::getenv(name);
    return value && *value ? std::strtoull(value, nullptr, 10) : fallback;
}

struct Outcome {
    std::string what;  // "exact", "failed loudly" or "WRONG: ..."
    bool fault_fired = false;
};

// Whether an outcome is one the daemons promise for this fault.
bool expected(Fault fault, const Outcome& outcome) {
    switch (fault) {
        case Fault::corrupt:
            return outcome.what == (outcome.fault_fired ? "failed loudly" : "exact");
        case Fault::cut:
            return outcome.what == "exact" || outcome.what == "failed loudly";
        case Fault::dump_vanishes:  // no inventory.img: the dump did not finish
            return outcome.what == "failed loudly";
        case Fault::dropped:
            return outcome.what == "dropped";
        default:
            return outcome.what == "exact";
    }
}

// One sample of both daemons' resources.
struct Sample {
    std::uint64_t after = 0;  // migrations done
    long proxy_rss_kib = 0, cache_rss_kib = 0;
    long proxy_fds = 0, cache_fds = 0;
    double cache_memory = 0, cache_held = 0;  // imgx_cached_memory_bytes, _image_held_bytes
};

long rss_kib(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);)
        if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
    return -1;
}

long open_fds(pid_t pid) {
    std::error_code ec;
    long count = 0;
    for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end;
         !ec && it != end; it.increment(ec))
        ++count;
    return ec ? -1 : count;
}

PairOptions soak_options() {
    PairOptions options;
    options.snapshots = kIds;
    options.proxy_args = {"--metrics", "127.0.0.1:0"};
    options.cache_args = {"--metrics", "127.0.0.1:0"};
    return options;
}

class Migrations {
  public:
    explicit Migrations(std::uint64_t seed)
        : random_(seed), rig_([](FaultRelay&) {}, soak_options()) {
        cache_metrics_ = metrics_port(pair(), Side::cache);
    }

    // One migration of `id` with `fault`.
    Outcome run(Fault fault, const std::string& id, std::uint64_t serial) {
        auto files = random_files(serial);
        std::uint64_t total = 0;
        for (const auto& f : files) total += f.content.size();
        arm(fault, total);
        std::thread releaser;
        if (fault == Fault::stall) {
            const auto delay = milliseconds(pick(0, kMaxStallMillis));
            releaser = std::thread([this, delay] {
                std::this_thread::sleep_for(delay);  // deliberate: the fault's stall
                rig_.relay->release_stall();
            });
        }
        // The id was dumped before: waits are for the dump begun after this mark.
        auto next = std::make_unique<NextDump>(pair(), id);
        if (fault == Fault::dump_vanishes)
            dump_and_vanish(id, files);
        else if (fault == Fault::replaced)
            dump_replacing_half_dump(id, files, serial, next);
        else
            (void)dump_files(pair().capture_dir(id), files, deadline_in(kTimeout));
        // Bounded: the dump has settled on img-proxyd, and img-cached has heard of it, before the
        // restore (which would rightly be served the previous dump otherwise).
        (void)next->wait_exit(Side::proxy);
        (void)next->wait_seen(Side::cache, deadline_in(kTimeout));
        if (releaser.joinable()) releaser.join();
        const bool fired = rig_.relay->fault_happened();
        rig_.relay->disarm();
        if (fault == Fault::dropped) return {drop(id) ? "dropped" : "drop failed", fired};
        if (fault == Fault::restore_vanishes) restore_and_vanish(id, files);
        return {judge(id, files), fired};
    }

    // Both daemons forget `id`; true if both answered the drop.
    bool drop(const std::string& id) {
        return pair().ctl(Side::proxy, {"drop", id}, seconds(20)).exit_status == 0 &&
               pair().ctl(Side::cache, {"drop", id}, seconds(20)).exit_status == 0;
    }

    Sample sample(std::uint64_t after) {
        Sample s{.after = after};
        s.proxy_rss_kib = rss_kib(pair().process(Side::proxy).pid());
        s.cache_rss_kib = rss_kib(pair().process(Side::cache).pid());
        s.proxy_fds = open_fds(pair().process(Side::proxy).pid());
        s.cache_fds = open_fds(pair().process(Side::cache).pid());
        const std::string text = scrape(cache_metrics_);
        s.cache_memory = value_of(text, "imgx_cached_memory_bytes").value_or(-1);
        s.cache_held = value_of(text, "imgx_cached_image_held_bytes").value_or(-1);
        return s;
    }

    // Bounded poll until img-cached holds no image byte; the last sample.
    Sample sample_once_empty(std::uint64_t after) {
        Sample s;
        poll_until(
            [&] {
                s = sample(after);
                return s.cache_memory == 0 && s.cache_held == 0;
            },
            deadline_in(seconds(20)));
        return s;
    }

    DaemonPair& pair() { return *rig_.pair; }

  private:
    int pick(int low, int high) { return std::uniform_int_distribution<int>(low, high)(random_); }

    std::vector<GeneratedFile> random_files(std::uint64_t serial) {
        std::vector<GeneratedFile> files;
        const int count = pick(1, kMaxFiles);
        for (int i = 0; i < count; ++i) {
            const auto size = static_cast<std::size_t>(pick(0, kMaxFileBytes));
            files.push_back(
                {"f" + std::to_string(i) + ".img", make_content(serial * kMaxFiles + i, size)});
        }
        return files;
    }

    void arm(Fault fault, std::uint64_t total) {
        // Link offsets include frame headers, so a cut or stall may land after the last data byte.
        const auto at = static_cast<std::uint64_t>(pick(0, static_cast<int>(total + 200)));
        if (fault == Fault::corrupt && total > 0) rig_.relay->corrupt_data_byte_after(at % total);
        if (fault == Fault::cut) rig_.relay->cut_after(at);
        if (fault == Fault::stall) rig_.relay->stall_after(at);
    }

    // CRIU killed mid-file: the files so far, part of the last one, then everything closed,
    // before inventory.img (CRIU's last image): the snapshot fails on both daemons.
    void dump_and_vanish(const std::string& id, std::vector<GeneratedFile>& files) {
        auto& last = files.back();
        last.content.resize(
            static_cast<std::size_t>(pick(0, static_cast<int>(last.content.size()))));
        try {
            StreamDumpSession dump(pair().capture_dir(id));
            for (std::size_t i = 0; i + 1 < files.size(); ++i)
                (void)write_and_close(dump.announce(files[i].name), files[i].content,
                                      deadline_in(kTimeout));
            auto pipe = dump.announce(last.name);
            make_nonblocking(pipe.get());
            (void)write_all(pipe.get(), last.content, deadline_in(kTimeout));
        } catch (const std::exception&) {
            // The daemon closed CRIU's socket: the snapshot failed, judged below.
        }
    }

    // A dump of `id` writes half of a file and stays open; a new dump of the same id (`files`)
    // replaces it, and img-proxyd stops the old CRIU. The new dump is what a restore must get.
    // `next` is marked again between the two dumps, so that waits are for the new one.
    void dump_replacing_half_dump(const std::string& id, const std::vector<GeneratedFile>& files,
                                  std::uint64_t serial, std::unique_ptr<NextDump>& next) {
        try {
            StreamDumpSession old_dump(pair().capture_dir(id));
            auto pipe = old_dump.announce("pages-1.img");
            make_nonblocking(pipe.get());
            const auto half = make_content(serial * kMaxFiles + kMaxFiles, pick(1, 200'000));
            (void)write_all(pipe.get(), half, deadline_in(kTimeout));
            (void)next->wait_seen(Side::proxy, deadline_in(kTimeout));
            (void)next->wait_seen(Side::cache, deadline_in(kTimeout));
            next = std::make_unique<NextDump>(pair(), id);
            (void)dump_files(pair().capture_dir(id), files, deadline_in(kTimeout));
        } catch (const std::exception&) {
            // The old CRIU's socket was closed by img-proxyd: as intended.
        }
    }

    // A restore killed while reading the largest file; the judged restore comes after it.
    void restore_and_vanish(const std::string& id, const std::vector<GeneratedFile>& files) {
        const auto largest = std::max_element(
            files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.content.size() < b.content.size(); });
        try {
            StreamRestoreSession restore(pair().serve_dir(id));
            auto reply = restore.request(largest->name, deadline_in(kTimeout));
            if (reply.answer != Answer::exists) return;
            std::string some(std::min<std::size_t>(largest->content.size(), pick(0, 8192)), '\0');
            (void)read_exact(reply.pipe.get(), some.data(), some.size(), deadline_in(kTimeout));
        } catch (const std::exception&) {
        }
    }

    // A restore as CRIU does it: inventory.img first (a dump that did not finish has none, and
    // the restore is closed when the dump fails), then the files.
    std::string judge(const std::string& id, const std::vector<GeneratedFile>& dumped) {
        std::vector<GeneratedFile> files{
            {std::string(kFinishingImage), std::string(kFinishingContent)}};
        files.insert(files.end(), dumped.begin(), dumped.end());
        try {
            StreamRestoreSession restore(pair().serve_dir(id));
            bool closed = false;
            for (const auto& f : files) {
                std::string got;
                const Answer answer = restore.fetch(f.name, got, deadline_in(kTimeout));
                if (answer == Answer::closed) {
                    closed = true;
                    break;
                }
                if (answer != Answer::exists)
                    return "WRONG: " + f.name + " got " + std::string(to_string(answer));
                if (got != f.content)
                    return "WRONG: " + f.name + " differs: " + describe_difference(f.content, got);
            }
            return closed ? "failed loudly" : "exact";
        } catch (const std::exception&) {
            // Connecting failed or the connection broke in the middle of a file: loud, not wrong.
            return "failed loudly";
        }
    }

    std::mt19937_64 random_;
    RelayedPair rig_;
    std::uint16_t cache_metrics_ = 0;
};

void print_samples(const std::vector<Sample>& samples) {
    std::cout << "| after | img-proxyd RSS MiB | img-proxyd fds | img-cached RSS MiB | img-cached "
                 "fds | img-cached memory bytes | img-cached held bytes |\n"
                 "|---|---|---|---|---|---|---|\n";
    std::cout << std::fixed << std::setprecision(1);
    for (const auto& s : samples)
        std::cout << "| " << s.after << " | " << s.proxy_rss_kib / 1024.0 << " | " << s.proxy_fds
                  << " | " << s.cache_rss_kib / 1024.0 << " | " << s.cache_fds << " | "
                  << std::setprecision(0) << s.cache_memory << " | " << s.cache_held << " |\n"
                  << std::setprecision(1);
}

void print_counts(std::map<std::string, std::map<std::string, int>>& counts) {
    std::cout << "| kind | migrations | exact | failed loudly | dropped | wrong bytes | unexpected "
                 "|\n|---|---|---|---|---|---|---|\n";
    for (const Fault fault : kFaults) {
        auto& row = counts[name_of(fault)];
        int all = 0;
        for (const auto& [what, n] : row)
            if (what != "unexpected") all += n;
        std::cout << "| " << name_of(fault) << " | " << all << " | " << row["exact"] << " | "
                  << row["failed loudly"] << " | " << row["dropped"] << " | " << row["WRONG"]
                  << " | " << row["unexpected"] << " |\n";
    }
}

// Resources flat from the first sample after migration 1,000 to the last before the drops: at
// most 10 more fds and 64 MiB more RSS on each daemon ("" or what grew).
std::string growth(const std::vector<Sample>& samples) {
    const auto from = std::find_if(samples.begin(), samples.end(),
                                   [](const Sample& s) { return s.after >= 1000; });
    if (from == samples.end() || samples.size() < 2) return "";
    const Sample& last = samples[samples.size() - 2];  // the one before the final drops
    std::string problems;
    if (last.proxy_fds - from->proxy_fds > 10) problems += "img-proxyd fds grew; ";
    if (last.cache_fds - from->cache_fds > 10) problems += "img-cached fds grew; ";
    if (last.proxy_rss_kib - from->proxy_rss_kib > 64 * 1024) problems += "img-proxyd RSS grew; ";
    if (last.cache_rss_kib - from->cache_rss_kib > 64 * 1024) problems += "img-cached RSS grew; ";
    return problems;
}

}  // namespace

TEST_CASE(
    "soak: mixed migrations with faults -> every restore exact or failed loudly, nothing kept",
    "[soak]") {
    const auto count = env_number("IMG_SOAK_COUNT", 100);
    const auto seed = env_number("IMG_SOAK_SEED", 1);
    const auto every = std::max<std::uint64_t>(1, env_number("IMG_SOAK_SAMPLE", 500));
    std::cout << "soak: " << count << " migrations, seed " << seed << "\n";
    Migrations migrations(seed);
    std::mt19937_64 choose(seed ^ 0x9e3779b97f4a7c15ULL);
    std::map<std::string, std::map<std::string, int>> counts;
    std::vector<Sample> samples{migrations.sample(0)};
    int unexpected = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        const Fault fault = kFaults[choose() % std::size(kFaults)];
        const std::string& id = kIds[choose() % kIds.size()];
        const auto outcome = migrations.run(fault, id, i);
        const bool wrong = outcome.what.starts_with("WRONG");
        ++counts[name_of(fault)][wrong ? "WRONG" : outcome.what];
        if (!expected(fault, outcome)) {
            ++unexpected;
            ++counts[name_of(fault)]["unexpected"];
            std::cout << "soak: migration " << i << " (" << name_of(fault) << " of " << id
                      << ", fault " << (outcome.fault_fired ? "fired" : "did not fire")
                      << "): unexpected " << outcome.what << "\n";
        }
        if ((i + 1) % every == 0) {
            samples.push_back(migrations.sample(i + 1));
            std::cout << "soak: " << i + 1 << " done\n" << std::flush;
        }
    }
    if (samples.back().after != count) samples.push_back(migrations.sample(count));
    bool dropped = true;
    for (const auto& id : kIds) dropped = migrations.drop(id) && dropped;
    samples.push_back(migrations.sample_once_empty(count));
    print_counts(counts);
    std::cout << "\nsamples (the last one after every id was dropped on both daemons):\n";
    print_samples(samples);
    CHECK(unexpected == 0);
    CHECK(dropped);
    CHECK(samples.back().cache_memory == 0);
    CHECK(samples.back().cache_held == 0);
    const std::string grew = growth(samples);
    INFO(grew);
    CHECK(grew.empty());
    CHECK(migrations.pair().running(Side::proxy));
    CHECK(migrations.pair().running(Side::cache));
}
