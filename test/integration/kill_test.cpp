// Either daemon killed with SIGKILL at a chosen point of a dump: before its first file, in the
// middle of a file, after its last file but before the dump ends, and after completion. Before
// completion the snapshot fails loudly on the side that survives; after it, nothing is lost.
#include <catch2/catch.hpp>
#include <memory>
#include <thread>

#include "support/content.hpp"
#include "support/criu_client.hpp"
#include "support/daemon_pair.hpp"
#include "support/daemon_waits.hpp"
#include "support/generated_dump.hpp"
#include "support/pipe_writer.hpp"

using namespace imgtest;

namespace {

constexpr auto kTimeout = seconds(20);
constexpr std::size_t kPagesBytes = 1 << 20;
constexpr std::size_t kPartialBytes = 200'000;  // written before a mid-file kill

enum class Point { before_first_file, mid_file, after_last_file, after_completion };

// One CRIU dump of job1 (inventory.img, pages-1.img), driven to a point and held there.
class HeldDump {
  public:
    HeldDump(DaemonPair& pair, Point point) : pair_(pair), pages_(make_content(71, kPagesBytes)) {
        session_ = std::make_unique<StreamDumpSession>(pair.capture_dir("job1"));
        if (point == Point::before_first_file) {
            REQUIRE(cache_knows_job1());
            return;
        }
        REQUIRE(write_and_close(session_->announce("inventory.img"), "inv", deadline_in(kTimeout))
                    .status == IoStatus::ok);
        open_pipe_ = session_->announce("pages-1.img");
        make_nonblocking(open_pipe_.get());
        const std::size_t now = point == Point::mid_file ? kPartialBytes : pages_.size();
        REQUIRE(write_all(open_pipe_.get(), std::string_view(pages_).substr(0, now),
                          deadline_in(kTimeout))
                    .status == IoStatus::ok);
        if (point != Point::mid_file) open_pipe_.reset();
        // The cache has what was written so far: a whole file is served from a snapshot still
        // arriving.
        const std::string settled = point == Point::mid_file ? "inventory.img" : "pages-1.img";
        StreamRestoreSession restore(pair.serve_dir("job1"));
        std::string got;
        REQUIRE(restore.fetch(settled, got, deadline_in(kTimeout)) == Answer::exists);
        if (point == Point::after_completion) {
            session_->close();
            REQUIRE(pair.ctl(Side::proxy, {"wait", "job1", "--timeout", "20"}, seconds(30))
                        .exit_status == 0);
        }
    }

    [[nodiscard]] const std::string& pages() const { return pages_; }

    // What CRIU sees of a failed dump: its socket closed and, mid-file, its pipe broken.
    void expect_failed_for_criu() {
        CHECK(session_->closed_by_daemon(deadline_in(kTimeout)));
        if (open_pipe_) {
            const auto rest = std::string_view(pages_).substr(kPartialBytes);
            CHECK(to_string(write_all(open_pipe_.get(), rest, deadline_in(kTimeout)).status) ==
                  to_string(IoStatus::error));
        }
    }

  private:
    // img-cached lists job1 once img-proxyd's snapshot begin has arrived (polled, bounded).
    bool cache_knows_job1() {
        return wait_for_status(
            pair_, Side::cache, "job1", [](const auto& s) { return !s.is_null(); },
            deadline_in(kTimeout));
    }

    DaemonPair& pair_;
    std::string pages_;
    std::unique_ptr<StreamDumpSession> session_;
    imgx::UniqueFd open_pipe_;
};

bool daemon_has_option(const std::string& program, const std::string& option) {
    return run_command({program, "--help"}, seconds(10)).out.find(option) != std::string::npos;
}

// Link resume (--link-retry on img-proxyd, --link-resume on img-cached, where the daemons have
// them) keeps a killed peer's snapshots waiting for it to come back; these tests want the loss
// declared at once (0), as without resume.
PairOptions fail_at_once() {
    const auto& paths = daemon_paths_or_skip();
    PairOptions options;
    if (daemon_has_option(paths.proxyd, "--link-retry")) options.proxy_args = {"--link-retry", "0"};
    if (daemon_has_option(paths.cached, "--link-resume"))
        options.cache_args = {"--link-resume", "0"};
    return options;
}

int wait_exit(DaemonPair& pair, Side side) {
    return pair.ctl(side, {"wait", "job1", "--timeout", "20"}, seconds(30)).exit_status;
}

// img-proxyd killed before the dump ended: img-cached fails the snapshot and closes its restores.
void proxy_killed_before_the_end(Point point) {
    DaemonPair pair(fail_at_once());
    HeldDump dump(pair, point);
    StreamRestoreSession waiting(pair.serve_dir("job1"));
    waiting.send_request("memfd.img");  // not in the dump: answered only once it is complete
    CHECK(waiting.read_reply(deadline_in(milliseconds(300))).answer == Answer::no_answer);

    pair.kill(Side::proxy);

    CHECK(to_string(waiting.read_reply(deadline_in(kTimeout)).answer) == to_string(Answer::closed));
    CHECK(wait_exit(pair, Side::cache) == 1);
    StreamRestoreSession late(pair.serve_dir("job1"));
    CHECK(to_string(late.request("inventory.img", deadline_in(kTimeout)).answer) ==
          to_string(Answer::closed));
    dump.expect_failed_for_criu();
    CHECK(pair.running(Side::cache));
}

// img-cached killed before the dump ended: img-proxyd fails the snapshot and stops CRIU.
void cache_killed_before_the_end(Point point) {
    DaemonPair pair(fail_at_once());
    HeldDump dump(pair, point);

    pair.kill(Side::cache);

    CHECK(wait_exit(pair, Side::proxy) == 1);
    dump.expect_failed_for_criu();
    CHECK(pair.running(Side::proxy));
}

}  // namespace

TEST_CASE(
    "fault: img-proxyd killed before the first file -> the cache fails the snapshot and closes its "
    "restores, "
    "CRIU's socket is closed",
    "[fault]") {
    proxy_killed_before_the_end(Point::before_first_file);
}

TEST_CASE(
    "fault: img-proxyd killed mid-file -> the cache fails the snapshot and closes its restores, "
    "CRIU's "
    "socket and pipe break",
    "[fault]") {
    proxy_killed_before_the_end(Point::mid_file);
}

TEST_CASE(
    "fault: img-proxyd killed after the last file, before the dump ends -> the cache fails the "
    "snapshot and "
    "closes its restores",
    "[fault]") {
    proxy_killed_before_the_end(Point::after_last_file);
}

TEST_CASE(
    "fault: img-proxyd killed after the snapshot completed -> the cache still serves every file",
    "[fault]") {
    DaemonPair pair(fail_at_once());
    HeldDump dump(pair, Point::after_completion);
    pair.kill(Side::proxy);
    CHECK(wait_exit(pair, Side::cache) == 0);
    StreamRestoreSession restore(pair.serve_dir("job1"));
    std::string got;
    REQUIRE(restore.fetch("pages-1.img", got, deadline_in(kTimeout)) == Answer::exists);
    CHECK(got == dump.pages());
    REQUIRE(restore.fetch("inventory.img", got, deadline_in(kTimeout)) == Answer::exists);
    CHECK(got == "inv");
    CHECK(to_string(restore.request("memfd.img", deadline_in(kTimeout)).answer) ==
          to_string(Answer::missing));
}

TEST_CASE(
    "fault: img-cached killed before the first file -> img-proxyd fails the snapshot (img-ctl wait "
    "exits 1) "
    "and closes CRIU's socket",
    "[fault]") {
    cache_killed_before_the_end(Point::before_first_file);
}

TEST_CASE(
    "fault: img-cached killed mid-file -> img-proxyd fails the snapshot (img-ctl wait exits 1), "
    "CRIU's socket "
    "and pipe break",
    "[fault]") {
    cache_killed_before_the_end(Point::mid_file);
}

TEST_CASE(
    "fault: img-cached killed after the last file, before the dump ends -> img-proxyd fails the "
    "snapshot "
    "(img-ctl wait exits 1) and closes CRIU's socket",
    "[fault]") {
    cache_killed_before_the_end(Point::after_last_file);
}

TEST_CASE(
    "fault: img-cached killed after the snapshot completed -> img-proxyd keeps it complete and "
    "dumps to the "
    "restarted img-cached",
    "[fault]") {
    DaemonPair pair(fail_at_once());
    { HeldDump dump(pair, Point::after_completion); }
    pair.kill(Side::cache);
    CHECK(wait_exit(pair, Side::proxy) == 0);
    CHECK(pair.running(Side::proxy));

    pair.restart(Side::cache);
    const auto files = generate_files("img", 72, 5);
    auto dumped = dump_files(pair.capture_dir("job1"), files, deadline_in(seconds(40)));
    INFO(dumped);
    REQUIRE(dumped.empty());
    auto restored =
        restore_and_compare(pair.serve_dir("job1"), files, {"memfd.img"}, deadline_in(kTimeout));
    INFO(restored);
    CHECK(restored.empty());
}
