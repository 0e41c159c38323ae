// Soak test (not part of the suite; scripts/soak runs it): COUNT small migrations through a fault
// relay, each with a random fault, and for each the restore must get exactly the bytes the dump
// wrote or fail loudly (its connection closed), never other bytes. Prints counts per fault and
// outcome; a fault that the daemons handle transparently (a stall, a vanishing client) must also
// leave the restore exact. IMG_SOAK_COUNT (default 100) and IMG_SOAK_SEED (default 1) choose the
// run.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include "support/content.hpp"
#include "support/criu_client.hpp"
#include "support/generated_dump.hpp"
#include "support/pipe_writer.hpp"
#include "support/relayed_pair.hpp"

using namespace imgtest;

namespace {

constexpr auto kTimeout = seconds(20);
constexpr std::size_t kMaxFileBytes = 300'000;
constexpr int kMaxFiles = 4;
constexpr int kMaxStallMillis = 400;

enum class Fault { none, corrupt, cut, stall, dump_vanishes, restore_vanishes };
constexpr Fault kFaults[] = {Fault::none,  Fault::corrupt,       Fault::cut,
                             Fault::stall, Fault::dump_vanishes, Fault::restore_vanishes};

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
        default:
            return outcome.what == "exact";
    }
}

class Migrations {
  public:
    explicit Migrations(std::uint64_t seed) : random_(seed), rig_([](FaultRelay&) {}) {}

    // One migration with `fault`.
    Outcome run(Fault fault, std::uint64_t serial) {
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
        if (fault == Fault::dump_vanishes)
            dump_and_vanish(files);
        else
            (void)dump_files(pair().capture_dir("job1"), files, deadline_in(kTimeout));
        // img-ctl wait: bounded, and the snapshot has settled on img-proxyd before the restore.
        (void)pair().ctl(Side::proxy, {"wait", "job1", "--timeout", "20"}, seconds(30));
        if (releaser.joinable()) releaser.join();
        const bool fired = rig_.relay->fault_happened();
        rig_.relay->disarm();
        if (fault == Fault::restore_vanishes) restore_and_vanish(files);
        return {judge(files), fired};
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
    void dump_and_vanish(std::vector<GeneratedFile>& files) {
        auto& last = files.back();
        last.content.resize(
            static_cast<std::size_t>(pick(0, static_cast<int>(last.content.size()))));
        try {
            StreamDumpSession dump(pair().capture_dir("job1"));
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

    // A restore killed while reading the largest file; the judged restore comes after it.
    void restore_and_vanish(const std::vector<GeneratedFile>& files) {
        const auto largest = std::max_element(
            files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.content.size() < b.content.size(); });
        try {
            StreamRestoreSession restore(pair().serve_dir("job1"));
            auto reply = restore.request(largest->name, deadline_in(kTimeout));
            if (reply.answer != Answer::exists) return;
            std::string some(std::min<std::size_t>(largest->content.size(), pick(0, 8192)), '\0');
            (void)read_exact(reply.pipe.get(), some.data(), some.size(), deadline_in(kTimeout));
        } catch (const std::exception&) {
        }
    }

    std::string judge(const std::vector<GeneratedFile>& files) {
        try {
            StreamRestoreSession restore(pair().serve_dir("job1"));
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
};

}  // namespace

TEST_CASE("soak: random link faults and vanishing clients -> every restore exact or failed loudly",
          "[soak]") {
    const auto count = env_number("IMG_SOAK_COUNT", 100);
    const auto seed = env_number("IMG_SOAK_SEED", 1);
    std::cout << "soak: " << count << " migrations, seed " << seed << "\n";
    Migrations migrations(seed);
    std::mt19937_64 choose(seed ^ 0x9e3779b97f4a7c15ULL);
    std::map<std::string, std::map<std::string, int>> counts;
    int unexpected = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        const Fault fault = kFaults[choose() % std::size(kFaults)];
        const auto outcome = migrations.run(fault, i);
        const bool wrong = outcome.what.starts_with("WRONG");
        ++counts[name_of(fault)][wrong ? "WRONG" : outcome.what];
        if (!expected(fault, outcome)) {
            ++unexpected;
            ++counts[name_of(fault)]["unexpected"];
            std::cout << "soak: migration " << i << " (" << name_of(fault) << ", fault "
                      << (outcome.fault_fired ? "fired" : "did not fire") << "): unexpected "
                      << outcome.what << "\n";
        }
        if ((i + 1) % 100 == 0) std::cout << "soak: " << i + 1 << " done\n" << std::flush;
    }
    std::cout << "| fault | migrations | exact | failed loudly | wrong bytes | unexpected "
                 "|\n|---|---|---|---|---|---|\n";
    for (const Fault fault : kFaults) {
        auto& row = counts[name_of(fault)];
        std::cout << "| " << name_of(fault) << " | "
                  << row["exact"] + row["failed loudly"] + row["WRONG"] << " | " << row["exact"]
                  << " | " << row["failed loudly"] << " | " << row["WRONG"] << " | "
                  << row["unexpected"] << " |\n";
    }
    CHECK(unexpected == 0);
    CHECK(migrations.pair().running(Side::proxy));
    CHECK(migrations.pair().running(Side::cache));
}
