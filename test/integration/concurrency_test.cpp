// Many snapshots dumped and restored at once, each dump holding many pipes open together, and
// stuck CRIU clients that must not hold up anyone else.
#include <catch2/catch.hpp>
#include <future>

#include "support/content.hpp"
#include "support/criu_client.hpp"
#include "support/daemon_pair.hpp"
#include "support/generated_dump.hpp"

using namespace imgtest;

namespace {

constexpr int kSnapshots = 16;
constexpr int kPipesPerSnapshot = 32;

std::string snapshot_name(int i) { return "snap" + std::to_string(i); }

// Files for snapshot i of a run: `count` generated ones, all small enough to share pipes.
std::vector<std::vector<GeneratedFile>> small_files(std::size_t snapshots, int count) {
    std::vector<std::vector<GeneratedFile>> files;
    for (std::size_t i = 0; i < snapshots; ++i)
        files.push_back(generate_files("file", 100 + i, count));
    return files;
}

// Dumps and restores every snapshot concurrently (restores start with their dumps and must wait
// for files still arriving). Returns the problems found, one per line.
std::string run_all(const std::vector<std::string>& capture_dirs,
                    const std::vector<std::string>& serve_dirs,
                    const std::vector<std::vector<GeneratedFile>>& files,
                    Clock::duration limit = seconds(90)) {
    const auto deadline = deadline_in(limit);
    std::vector<std::future<std::string>> jobs;
    for (std::size_t i = 0; i < capture_dirs.size(); ++i) {
        jobs.push_back(std::async(std::launch::async, [&, i] {
            return dump_files(capture_dirs[i], files[i], deadline);
        }));
        jobs.push_back(std::async(std::launch::async, [&, i] {
            return restore_and_compare(serve_dirs[i], files[i], {"memfd.img", "tty-info.img"},
                                       deadline);
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

TEST_CASE(
    "sixteen concurrent dumps with thirty-two open pipes each are all restored byte for byte") {
    PairOptions options;
    options.snapshots.clear();
    for (int i = 0; i < kSnapshots; ++i) options.snapshots.push_back(snapshot_name(i));
    DaemonPair pair(options);
    std::vector<std::string> capture_dirs, serve_dirs;
    for (const auto& id : options.snapshots) {
        capture_dirs.push_back(pair.capture_dir(id));
        serve_dirs.push_back(pair.serve_dir(id));
    }
    auto problems =
        run_all(capture_dirs, serve_dirs, small_files(capture_dirs.size(), kPipesPerSnapshot));
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
        INFO("img-ctl capture: status " << c.exit_status << " stdout " << c.out << " stderr "
                                        << c.err);
        REQUIRE(c.exit_status == 0);
        auto s = pair.ctl(Side::cache, serve_args);
        INFO("img-ctl serve: status " << s.exit_status << " stdout " << s.out << " stderr "
                                      << s.err);
        REQUIRE(s.exit_status == 0);
        REQUIRE(wait_until_listening(capture_dirs[i] + "/streamer-capture.sock",
                                     deadline_in(seconds(10))));
        REQUIRE(
            wait_until_listening(serve_dirs[i] + "/streamer-serve.sock", deadline_in(seconds(10))));
    }
    auto problems = run_all(capture_dirs, serve_dirs, small_files(capture_dirs.size(), 8));
    INFO(problems);
    CHECK(problems.empty());
}

TEST_CASE(
    "sixty-four concurrent migrations of mixed sizes finish while one CRIU dump and one restore "
    "are stuck") {
    constexpr std::size_t kMigrations = 64;
    constexpr std::size_t kMib = 1 << 20;
    PairOptions options;
    options.snapshots = {"stuck", "unread"};
    for (std::size_t i = 0; i < kMigrations; ++i)
        options.snapshots.push_back("mig" + std::to_string(i));
    DaemonPair pair(options);

    // A restore that asked for a file larger than its pipe and never reads: img-cached's feed
    // to it stays blocked for the whole run.
    const GeneratedFile unread{"pages-1.img", make_content(7, 2 * kMib + 4099)};
    REQUIRE(dump_files(pair.capture_dir("unread"), {unread}, deadline_in(seconds(30))).empty());
    StreamRestoreSession slow_restore(pair.serve_dir("unread"));
    auto unread_reply = slow_restore.request(unread.name, deadline_in(seconds(30)));
    REQUIRE(unread_reply.answer == Answer::exists);

    // A dump whose CRIU wrote half a file and then stops, holding its pipe and socket open.
    const std::string stuck_content = make_content(8, 4 * kMib);
    StreamDumpSession stuck_dump(pair.capture_dir("stuck"));
    auto stuck_pipe = stuck_dump.announce("pages-1.img");
    REQUIRE(write_all(stuck_pipe.get(), std::string_view(stuck_content).substr(0, 2 * kMib),
                      deadline_in(seconds(30)))
                .status == IoStatus::ok);

    // Mixed sizes: eight small files each and one of 0 to 2 MiB (about 64 MiB in all).
    std::vector<std::string> capture_dirs, serve_dirs;
    std::vector<std::vector<GeneratedFile>> files;
    for (std::size_t i = 0; i < kMigrations; ++i) {
        const std::string id = "mig" + std::to_string(i);
        capture_dirs.push_back(pair.capture_dir(id));
        serve_dirs.push_back(pair.serve_dir(id));
        auto some = generate_files("file", 300 + i, 8);
        some.push_back({"pages-1.img", make_content(400 + i, (i % 3) * kMib + i * 4099)});
        files.push_back(std::move(some));
    }
    auto problems = run_all(capture_dirs, serve_dirs, files, seconds(120));
    INFO(problems);
    CHECK(problems.empty());

    // Both stuck clients were left alone, and each finishes correctly once it goes on.
    CHECK_FALSE(stuck_dump.closed_by_daemon(deadline_in(milliseconds(100))));
    REQUIRE(write_all(stuck_pipe.get(), std::string_view(stuck_content).substr(2 * kMib),
                      deadline_in(seconds(30)))
                .status == IoStatus::ok);
    stuck_pipe.reset();
    REQUIRE(stuck_dump.finish(deadline_in(seconds(30))));
    CHECK(restore_and_compare(pair.serve_dir("stuck"), {{"pages-1.img", stuck_content}}, {},
                              deadline_in(seconds(30)))
              .empty());
    auto late = read_to_eof(unread_reply.pipe.get(), deadline_in(seconds(30)));
    CHECK(late.result.status == IoStatus::ok);
    CHECK(late.data == unread.content);
    CHECK(pair.running(Side::proxy));
    CHECK(pair.running(Side::cache));
}
