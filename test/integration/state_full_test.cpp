// img-cached's state directory on a full file system: the dump that does not fit fails loudly,
// its partial files go, and the daemon goes on serving what it has.
#include <catch2/catch.hpp>
#include <filesystem>

#include "support/content.hpp"
#include "support/daemon_pair.hpp"
#include "support/generated_dump.hpp"
#include "support/test_status.hpp"

using namespace imgtest;
namespace fs = std::filesystem;

namespace {

constexpr auto kTimeout = seconds(20);

// A small tmpfs of our own, so that "disk full" is real and harms nothing else.
class SmallFileSystem {
  public:
    SmallFileSystem(const std::string& at, const std::string& size) : at_(at) {
        CommandResult r;
        try {
            r = run_command(
                {"/bin/mount", "-t", "tmpfs", "-o", "size=" + size + ",mode=0700", "tmpfs", at_},
                seconds(10));
        } catch (const std::exception& e) {
            r.err = e.what();
        }
        if (r.exit_status != 0)
            skip_test(
                "cannot mount a tmpfs for the disk-full test (needs root and mount permission): " +
                r.err);
    }
    ~SmallFileSystem() { run_command({"/bin/umount", "-l", at_}, seconds(10)); }
    SmallFileSystem(const SmallFileSystem&) = delete;
    SmallFileSystem& operator=(const SmallFileSystem&) = delete;

  private:
    std::string at_;
};

}  // namespace

TEST_CASE(
    "fault: state directory full mid-dump -> that snapshot fails loudly, partial removed, another "
    "still served",
    "[fault]") {
    TempDir dir;
    const std::string state = dir.make_dir("state");
    SmallFileSystem full(state, "2m");
    DaemonPair pair({.snapshots = {"small", "big"}, .cache_args = {"--state-dir", state}});
    const auto small = generate_files("small", 81, 4);
    REQUIRE(dump_files(pair.capture_dir("small"), small, deadline_in(kTimeout)) == "");
    REQUIRE(pair.ctl(Side::cache, {"wait", "small", "--timeout", "20"}).exit_status == 0);

    auto big = generate_files("big", 82, 3);
    big.push_back({"pages-big.img", make_content(83, 4 * 1024 * 1024)});
    dump_files(pair.capture_dir("big"), big, deadline_in(kTimeout));  // CRIU cannot tell
    auto waited = pair.ctl(Side::cache, {"wait", "big", "--timeout", "20"});
    CHECK(waited.exit_status == 1);
    CHECK_THAT(waited.out + waited.err,
               Catch::Contains("No space left on device") && Catch::Contains("snapshot 'big'"));
    std::error_code ec;
    CHECK(fs::is_empty(state + "/partial", ec));

    CHECK(restore_and_compare(pair.serve_dir("small"), small, {"memfd.img"},
                              deadline_in(kTimeout)) == "");
    CHECK(pair.running(Side::cache));
}
