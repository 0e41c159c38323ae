// `promtool check metrics` (Prometheus's own linter) on both daemons' /metrics after a migration;
// SKIP, with the reason, when promtool is not installed (scripts/install-deps installs it).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <vector>

#include "support/daemon_pair.hpp"
#include "support/generated_dump.hpp"
#include "support/metrics_scrape.hpp"
#include "support/test_status.hpp"

using namespace imgtest;

namespace {

constexpr auto kTimeout = seconds(30);

std::string promtool_or_skip() {
    for (const char* path : {"/usr/bin/promtool", "/usr/local/bin/promtool"})
        if (::access(path, X_OK) == 0) return path;
    skip_test("promtool is not installed (Debian package prometheus; scripts/install-deps)");
}

// The naming rules promtool 2.42 does not check, as "# TYPE" lines give them: a counter ends in
// _total; a gauge does not, and no counter is named after it plus _total; the unit (bytes,
// seconds) is the last word of a gauge and the one before _total of a counter. "" or the faults.
std::string naming_faults(const std::string& exposition) {
    std::map<std::string, std::string> types;
    std::istringstream lines(exposition);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::string hash, keyword, name, type;
        if (words >> hash >> keyword >> name >> type && hash == "#" && keyword == "TYPE")
            types[name] = type;
    }
    const std::regex unit_inside("_(bytes|seconds)_(?!total$)");
    std::string faults;
    for (const auto& [name, type] : types) {
        const bool total = name.ends_with("_total");
        if (type == "counter" && !total) faults += name + ": a counter without _total\n";
        if (type == "gauge" && total) faults += name + ": a gauge named _total\n";
        if (type == "gauge" && types.contains(name + "_total"))
            faults += name + ": a gauge sharing its name with the counter " + name + "_total\n";
        if (std::regex_search(name, unit_inside)) faults += name + ": the unit is not last\n";
    }
    return faults;
}

}  // namespace

TEST_CASE(
    "both daemons' metrics follow the naming rules and pass promtool check metrics, process_* "
    "metrics included") {
    DaemonPair pair(
        {.proxy_args = {"--metrics", "127.0.0.1:0"}, .cache_args = {"--metrics", "127.0.0.1:0"}});
    const auto files = generate_files("promtool", 11, 4);
    REQUIRE(dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout)).empty());
    REQUIRE(pair.ctl(Side::proxy, {"wait", "job1"}, kTimeout).exit_status == 0);
    std::vector<std::string> expositions;
    for (auto side : {Side::proxy, Side::cache}) {
        const char* name = side == Side::proxy ? "img-proxyd" : "img-cached";
        INFO(name);
        const std::uint16_t port = metrics_port(pair, side);
        REQUIRE(port != 0);
        const std::string exposition = scrape(port);
        for (const char* metric : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                                   "process_virtual_memory_bytes", "process_start_time_seconds",
                                   "process_open_fds", "process_max_fds"}) {
            INFO(metric);
            const auto value = value_of(exposition, metric);
            REQUIRE(value);
            CHECK(*value >= 0);
        }
        CHECK(*value_of(exposition, "process_resident_memory_bytes") > 0);
        CHECK(*value_of(exposition, "process_open_fds") > 3);
        CHECK(*value_of(exposition, "process_start_time_seconds") > 1.7e9);
        CHECK(naming_faults(exposition) == "");
        expositions.push_back(exposition);
    }
    // promtool last: without it the checks above have run and the test reports SKIP.
    const std::string promtool = promtool_or_skip();
    for (const auto& exposition : expositions) {
        TempDir dir;
        const std::string file = dir.path() + "/metrics.txt";
        std::ofstream(file) << exposition;
        // promtool reads the exposition on stdin.
        auto checked =
            run_command({"/bin/sh", "-c", promtool + " check metrics < " + file}, seconds(20));
        INFO(exposition << "\npromtool: " << checked.out << checked.err);
        CHECK(checked.exit_status == 0);
        CHECK(checked.out.empty());
        CHECK(checked.err.empty());
    }
}
