// Many snapshots dumped and restored at once, each dump holding many pipes open together.
#include <catch2/catch.hpp>

#include "support/daemon_pair.hpp"
#include "support/generated_dump.hpp"

#include <future>

using namespace imgtest;

namespace {

constexpr int kSnapshots = 16;
constexpr int kPipesPerSnapshot = 32;

std::string snapshot_name(int i) { return "snap" + std::to_string(i); }

// Dumps and restores every snapshot concurrently (restores start with their dumps and must wait
// for files still arriving). Returns the problems found, one per line.
std::string run_all(const std::vector<std::string>& capture_dirs,
                    const std::vector<std::string>& serve_dirs, int files_per_snapshot) {
    const auto deadline = deadline_in(seconds(90));
    std::vector<std::future<std::string>> jobs;
    for (std::size_t i = 0; i < capture_dirs.size(); ++i) {
        auto files = std::make_shared<std::vector<GeneratedFile>>(
            generate_files("file", 100 + i, files_per_snapshot));
        jobs.push_back(std::async(std::launch::async,
                                  [&, i, files] { return dump_files(capture_dirs[i], *files, deadline); }));
        jobs.push_back(std::async(std::launch::async, [&, i, files] {
            return restore_and_compare(serve_dirs[i], *files, {"memfd.img", "tty-info.img"}, deadline);
        }));
    }
    std::string problems;
    for (auto& job : jobs) {
        auto problem = job.get();
        if (!problem.empty()) problems += problem + "\n";
    }
    return problems;
}

}  // namespace

TEST_CASE("sixteen concurrent dumps with thirty-two open pipes each are all restored byte for byte") {
    PairOptions options;
    options.snapshots.clear();
    for (int i = 0; i < kSnapshots; ++i) options.snapshots.push_back(snapshot_name(i));
    DaemonPair pair(options);
    std::vector<std::string> capture_dirs, serve_dirs;
    for (const auto& id : options.snapshots) {
        capture_dirs.push_back(pair.capture_dir(id));
        serve_dirs.push_back(pair.serve_dir(id));
    }
    auto problems = run_all(capture_dirs, serve_dirs, kPipesPerSnapshot);
    INFO(problems);
    CHECK(problems.empty());
    CHECK(pair.running(Side::proxy));
    CHECK(pair.running(Side::cache));
}

TEST_CASE("endpoints opened at run time with img-ctl carry dumps like command-line ones") {
    DaemonPair pair({.snapshots = {}});
    std::vector<std::string> capture_dirs, serve_dirs;
    constexpr int kRuntimeSnapshots = 4;
    for (int i = 0; i < kRuntimeSnapshots; ++i) {
        auto capture = pair.dir().make_dir("src/rt" + std::to_string(i));
        auto serve = pair.dir().make_dir("dst/rt" + std::to_string(i));
        capture_dirs.push_back(capture);
        serve_dirs.push_back(serve);
    }
    // The last pair uses --snapshot: different directory names, one snapshot id.
    capture_dirs.back() = pair.dir().make_dir("src/source-side-name");
    serve_dirs.back() = pair.dir().make_dir("dst/destination-side-name");
    for (std::size_t i = 0; i < capture_dirs.size(); ++i) {
        std::vector<std::string> capture_args = {"capture", capture_dirs[i]};
        std::vector<std::string> serve_args = {"serve", serve_dirs[i]};
        if (i + 1 == capture_dirs.size()) {
            capture_args.insert(capture_args.end(), {"--snapshot", "shared-id"});
            serve_args.insert(serve_args.end(), {"--snapshot", "shared-id"});
        }
        auto c = pair.ctl(Side::proxy, capture_args);
        INFO("img-ctl capture: status " << c.exit_status << " stdout " << c.out << " stderr " << c.err);
        REQUIRE(c.exit_status == 0);
        auto s = pair.ctl(Side::cache, serve_args);
        INFO("img-ctl serve: status " << s.exit_status << " stdout " << s.out << " stderr " << s.err);
        REQUIRE(s.exit_status == 0);
        REQUIRE(wait_until_listening(capture_dirs[i] + "/streamer-capture.sock", deadline_in(seconds(10))));
        REQUIRE(wait_until_listening(serve_dirs[i] + "/streamer-serve.sock", deadline_in(seconds(10))));
    }
    auto problems = run_all(capture_dirs, serve_dirs, 8);
    INFO(problems);
    CHECK(problems.empty());
}
