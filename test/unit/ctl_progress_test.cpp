// img-ctl wait: rate, ETA, sizes and durations, and the lines for a terminal and for a pipe.
#include <catch2/catch.hpp>
#include <string>

#include "ctl/progress.hpp"

using namespace imgx;
using imgx::ctl::ProgressMeter;

namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;

control::Response answer(const std::string& state, std::uint64_t bytes, std::uint64_t confirmed,
                         bool total_known, bool final = false, bool ok = true) {
    control::Response r;
    r.set_daemon("img-proxyd");
    r.set_ok(ok);
    r.set_final(final);
    auto* s = r.add_snapshots();
    s->set_snapshot_id("job1");
    s->set_state(state);
    s->set_files(7);
    s->set_bytes(bytes);
    s->set_bytes_acked(confirmed);
    s->set_total_known(total_known);
    s->set_total_bytes(total_known ? bytes : 0);
    s->set_rate_bytes_per_second(1.0 * kMiB);
    s->set_duration_seconds(4.0);
    return r;
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("sizes are shown in binary units with one decimal") {
    CHECK(ctl::human_bytes(0) == "0 B");
    CHECK(ctl::human_bytes(1023) == "1023 B");
    CHECK(ctl::human_bytes(1536) == "1.5 KiB");
    CHECK(ctl::human_bytes(3.25 * kMiB) == "3.2 MiB");
    CHECK(ctl::human_bytes(2.0 * 1024 * kMiB) == "2.0 GiB");
}

TEST_CASE("durations are shown in seconds, then minutes, then hours") {
    CHECK(ctl::human_duration(0.44) == "0.4 s");
    CHECK(ctl::human_duration(9.96) == "10.0 s");
    CHECK(ctl::human_duration(42.4) == "42 s");
    CHECK(ctl::human_duration(185) == "3m05s");
    CHECK(ctl::human_duration(7620) == "2h07m");
    CHECK(ctl::human_duration(-1) == "0.0 s");
}

TEST_CASE(
    "while the dump runs the rate comes from recent answers and the ETA is honestly unknown") {
    ProgressMeter meter;
    meter.add(answer("capturing", 10 * kMiB, 0, false), 100.0);
    meter.add(answer("capturing", 30 * kMiB, 0, false), 101.0);
    const auto line = meter.line(false);
    INFO(line);
    CHECK(contains(line, "img-proxyd: 'job1' capturing: 7 files, 30.0 MiB, 20.0 MiB/s"));
    CHECK(contains(line, "ETA unknown"));
    CHECK(line.find('[') == std::string::npos);
}

TEST_CASE("a single answer uses the daemon's average rate") {
    ProgressMeter meter;
    meter.add(answer("receiving", 5 * kMiB, 0, false), 10.0);
    CHECK(contains(meter.line(false), "1.0 MiB/s"));
}

TEST_CASE(
    "answers that show no progress (a large file not yet confirmed) use the daemon's average "
    "rate") {
    ProgressMeter meter;
    meter.add(answer("sending", 100 * kMiB, 10 * kMiB, true), 0.0);
    meter.add(answer("sending", 100 * kMiB, 10 * kMiB, true), 2.0);
    const auto line = meter.line(false);
    INFO(line);
    CHECK(contains(line, ", 1.0 MiB/s, ETA 1m30s"));
}

TEST_CASE("once the total is known the ETA counts the bytes still to be confirmed") {
    ProgressMeter meter;
    meter.add(answer("capturing", 80 * kMiB, 10 * kMiB, false), 0.0);
    // From here on the quantity is confirmed bytes: the capture-phase samples do not count.
    meter.add(answer("sending", 100 * kMiB, 20 * kMiB, true), 1.0);
    meter.add(answer("sending", 100 * kMiB, 60 * kMiB, true), 2.0);
    const auto plain = meter.line(false);
    INFO(plain);
    CHECK(contains(plain, "60.0 MiB of 100.0 MiB confirmed (60%)"));
    CHECK(contains(plain, "40.0 MiB/s"));
    CHECK(contains(plain, "ETA 1.0 s"));
    const auto bar = meter.line(true);
    INFO(bar);
    CHECK(bar.rfind("[############........] ", 0) == 0);
}

TEST_CASE("the rate forgets answers older than the window") {
    ProgressMeter meter;
    meter.add(answer("capturing", 0, 0, false), 0.0);
    meter.add(answer("capturing", 100 * kMiB, 0, false), 1.0);
    meter.add(answer("capturing", 100 * kMiB, 0, false), 5.0);
    meter.add(answer("capturing", 110 * kMiB, 0, false), 6.0);
    INFO(meter.line(false));
    CHECK(contains(meter.line(false), "10.0 MiB/s"));
}

TEST_CASE("a terminal is redrawn at most 4 times a second, a pipe gets a line every 5 seconds") {
    ProgressMeter meter;
    CHECK(meter.due(0.0, true));
    CHECK(meter.due(0.0, false));
    meter.drawn(0.0);
    CHECK_FALSE(meter.due(0.2, true));
    CHECK(meter.due(0.25, true));
    CHECK_FALSE(meter.due(4.9, false));
    CHECK(meter.due(5.0, false));
}

TEST_CASE("the final line of a complete snapshot gives files, bytes, duration and rate") {
    ProgressMeter meter;
    meter.add(answer("complete", 8 * kMiB, 8 * kMiB, true, true, true), 3.0);
    CHECK(meter.summary() ==
          "img-proxyd: snapshot 'job1' complete: 7 files, 8.0 MiB in 4.0 s (2.0 MiB/s)");
}

TEST_CASE("the final line of a failed snapshot says what had moved and why it failed") {
    ProgressMeter meter;
    auto r = answer("failed", 8 * kMiB, 2 * kMiB, false, true, false);
    r.set_error("link to img-cached lost");
    meter.add(r, 3.0);
    CHECK(meter.summary() ==
          "img-proxyd: snapshot 'job1' failed after 4.0 s: 7 files, 8.0 MiB moved, 2.0 MiB "
          "confirmed: "
          "link to img-cached lost");
}

TEST_CASE("before the dump begins the line says it is waiting") {
    ProgressMeter meter;
    control::Response r;
    r.set_daemon("img-cached");
    meter.add(r, 0.0);
    CHECK(meter.line(false) == "img-cached: waiting for the dump to begin");
}
