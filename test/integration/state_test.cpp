// img-cached with a state directory and a memory budget: snapshots survive restarts and crashes,
// partial or altered ones are never served, bytes beyond the budget are spilled or refused.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/content.hpp"
#include "support/criu_client.hpp"
#include "support/daemon_pair.hpp"
#include "support/generated_dump.hpp"
#include "support/pipe_writer.hpp"

using namespace imgtest;
namespace fs = std::filesystem;

namespace {

constexpr auto kTimeout = seconds(20);
// A restore of an unknown snapshot waits for its dump; this long without an answer shows it.
constexpr auto kNoAnswerFor = milliseconds(500);

// A few generated files plus one of several MiB, so that a 1 MiB budget is exceeded.
std::vector<GeneratedFile> files_with_large_one(std::uint64_t seed) {
    auto files = generate_files("img", seed, 5);
    files.push_back({"pages-big.img", make_content(seed + 100, 3 * 1024 * 1024)});
    return files;
}

// `img-ctl wait ID` on img-cached: "" once complete, else what it said.
std::string wait_complete(DaemonPair& pair, const std::string& id) {
    auto r = pair.ctl(Side::cache, {"wait", id, "--timeout", "20"});
    if (r.exit_status == 0) return "";
    return "img-ctl wait " + id + " exited " + std::to_string(r.exit_status) + ": " + r.out + r.err;
}

std::string cache_log(DaemonPair& pair) {
    return read_text_file(pair.process(Side::cache).log_path());
}

// Directories under `dir` (empty if it does not exist).
std::vector<fs::path> entries(const std::string& dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path());
    return out;
}

// Files img-cached holds open that live (or lived, unnamed) in `dir`.
int open_files_in(pid_t pid, const std::string& dir) {
    int n = 0;
    for (const auto& fd : entries("/proc/" + std::to_string(pid) + "/fd")) {
        std::error_code ec;
        auto target = fs::read_symlink(fd, ec).string();
        if (!ec && target.rfind(dir + "/", 0) == 0) ++n;
    }
    return n;
}

}  // namespace

TEST_CASE(
    "a complete snapshot in the state directory is served after a restart and after kill -9") {
    TempDir state_parent;
    const std::string state = state_parent.path() + "/state";
    DaemonPair pair({.cache_args = {"--state-dir", state}});
    const auto files = generate_files("img", 71, 8);
    REQUIRE(dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout)) == "");
    REQUIRE(wait_complete(pair, "job1") == "");

    REQUIRE(pair.stop_cache());
    pair.restart_cache();
    CHECK_THAT(cache_log(pair), Catch::Contains("loaded snapshot 'job1'"));
    CHECK(restore_and_compare(pair.serve_dir("job1"), files, {"memfd.img"},
                              deadline_in(kTimeout)) == "");

    pair.kill_cache();
    pair.restart_cache();
    CHECK(restore_and_compare(pair.serve_dir("job1"), files, {"memfd.img"},
                              deadline_in(kTimeout)) == "");
    CHECK(pair.ctl(Side::cache, {"status"}).out.find("complete") != std::string::npos);
}

TEST_CASE(
    "fault: cache killed mid-transfer with a state dir -> partial discarded at restart, never "
    "served",
    "[fault]") {
    TempDir state_parent;
    const std::string state = state_parent.path() + "/state";
    DaemonPair pair({.snapshots = {"job1", "job2"}, .cache_args = {"--state-dir", state}});
    const auto done = generate_files("done", 72, 6);
    REQUIRE(dump_files(pair.capture_dir("job2"), done, deadline_in(kTimeout)) == "");
    REQUIRE(wait_complete(pair, "job2") == "");

    {
        StreamDumpSession dump(pair.capture_dir("job1"));
        REQUIRE(
            write_and_close(dump.announce("inventory.img"), "inv", deadline_in(kTimeout)).status ==
            IoStatus::ok);
        auto pages = dump.announce("pages-1.img");
        make_nonblocking(pages.get());
        REQUIRE(write_all(pages.get(), make_content(73, 200'000), deadline_in(kTimeout)).status ==
                IoStatus::ok);
        // Wait until the cache has verified inventory.img of job1 on disk.
        StreamRestoreSession probe(pair.serve_dir("job1"));
        std::string inventory;
        REQUIRE(probe.fetch("inventory.img", inventory, deadline_in(kTimeout)) == Answer::exists);
        REQUIRE_FALSE(entries(state + "/partial").empty());
        pair.kill_cache();
        pair.kill_proxy();
    }
    pair.restart_cache();
    CHECK_THAT(cache_log(pair), Catch::Contains("discarding partial snapshot 'job1'"));
    CHECK(entries(state + "/partial").empty());
    StreamRestoreSession restore(pair.serve_dir("job1"));
    CHECK(to_string(restore.request("inventory.img", deadline_in(kNoAnswerFor)).answer) ==
          to_string(Answer::no_answer));
    CHECK(restore_and_compare(pair.serve_dir("job2"), done, {"memfd.img"}, deadline_in(kTimeout)) ==
          "");
}

TEST_CASE(
    "fault: persisted file altered while img-cached is down -> snapshot set aside at restart, not "
    "served",
    "[fault]") {
    TempDir state_parent;
    const std::string state = state_parent.path() + "/state";
    DaemonPair pair({.snapshots = {"job1", "job2"}, .cache_args = {"--state-dir", state}});
    const auto files = generate_files("img", 74, 6);
    REQUIRE(dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout)) == "");
    REQUIRE(dump_files(pair.capture_dir("job2"), files, deadline_in(kTimeout)) == "");
    REQUIRE(wait_complete(pair, "job1") == "");
    REQUIRE(wait_complete(pair, "job2") == "");
    REQUIRE(pair.stop_cache());

    bool altered = false;
    for (const auto& dir : entries(state + "/snapshots")) {
        if (dir.filename().string().rfind("job1-", 0) != 0) continue;
        for (const auto& image : entries((dir / "images").string())) {
            if (fs::file_size(image) == 0) continue;
            std::fstream(image, std::ios::in | std::ios::out | std::ios::binary).write("\xff", 1);
            altered = true;
            break;
        }
    }
    REQUIRE(altered);
    pair.restart_cache();
    CHECK_THAT(cache_log(pair), Catch::Contains("does not match its manifest and is not served"));
    StreamRestoreSession restore(pair.serve_dir("job1"));
    CHECK(to_string(restore.request("inventory.img", deadline_in(kNoAnswerFor)).answer) ==
          to_string(Answer::no_answer));
    CHECK(restore_and_compare(pair.serve_dir("job2"), files, {"memfd.img"},
                              deadline_in(kTimeout)) == "");
    CHECK(entries(state + "/bad").size() == 1);
}

TEST_CASE(
    "a memory budget smaller than the snapshot spills the rest to the spool directory; the restore "
    "gets every byte") {
    TempDir spool_parent;
    const std::string spool = spool_parent.make_dir("spool");
    DaemonPair pair({.cache_args = {"--memory-budget", "1", "--spool-dir", spool}});
    const auto files = files_with_large_one(75);
    REQUIRE(dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout)) == "");
    REQUIRE(wait_complete(pair, "job1") == "");
    CHECK(open_files_in(pair.process(Side::cache).pid(), spool) >=
          1);  // the excess, in unnamed files
    CHECK(restore_and_compare(pair.serve_dir("job1"), files, {"memfd.img"},
                              deadline_in(kTimeout)) == "");
    CHECK(entries(spool).empty());  // nothing named is left behind
}

TEST_CASE(
    "fault: memory budget reached with no spool dir -> that snapshot fails loudly, a concurrent "
    "small one succeeds",
    "[fault]") {
    DaemonPair pair({.snapshots = {"small", "big"}, .cache_args = {"--memory-budget", "1"}});
    const auto small = generate_files("small", 76, 3);
    StreamDumpSession small_dump(pair.capture_dir("small"));
    REQUIRE(write_and_close(small_dump.announce("inventory.img"), "inv", deadline_in(kTimeout))
                .status == IoStatus::ok);

    dump_files(pair.capture_dir("big"), files_with_large_one(77),
               deadline_in(kTimeout));  // CRIU cannot tell
    const auto waited = wait_complete(pair, "big");
    CHECK_THAT(waited,
               Catch::Contains("memory budget of 1 MiB reached and no spool directory configured"));
    CHECK_THAT(cache_log(pair), Catch::Contains("snapshot 'big' failed"));

    for (const auto& file : small)
        REQUIRE(write_and_close(small_dump.announce(file.name), file.content, deadline_in(kTimeout))
                    .status == IoStatus::ok);
    small_dump.close();
    REQUIRE(wait_complete(pair, "small") == "");
    auto with_inventory = small;
    with_inventory.push_back({"inventory.img", "inv"});
    CHECK(restore_and_compare(pair.serve_dir("small"), with_inventory, {"memfd.img"},
                              deadline_in(kTimeout)) == "");
    CHECK(pair.running(Side::cache));
}
