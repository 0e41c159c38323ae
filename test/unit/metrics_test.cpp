// The metrics endpoint's pure parts: text exposition format 0.0.4, histogram buckets, request
// parsing and responses, and the loopback rule for its address.
#include <catch2/catch.hpp>
#include <limits>
#include <string>

#include "metrics/exposition.hpp"
#include "metrics/http_request.hpp"
#include "metrics/metrics_address.hpp"
#include "metrics/process_metrics.hpp"
#include "metrics/registry.hpp"
#include "util/cli.hpp"

using namespace imgx;
using namespace imgx::metrics;

namespace {

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("label values escape backslash, double quote and newline") {
    CHECK(escape_label_value(R"(a\b"c)"
                             "\nd") == R"(a\\b\"c\nd)");
    CHECK(escape_label_value("plain") == "plain");
    CHECK(format_labels({{"reason", "say \"hi\""}, {"daemon", "x"}}) ==
          R"(reason="say \"hi\"",daemon="x")");
}

TEST_CASE("HELP text escapes backslash and newline but not quotes") {
    CHECK(escape_help("a \\ b\n\"c\"") == "a \\\\ b\\n\"c\"");
}

TEST_CASE("sample values: integers exactly, fractions shortest, infinities and NaN by name") {
    CHECK(format_value(std::uint64_t{18446744073709551615u}) == "18446744073709551615");
    CHECK(format_value(std::int64_t{-3}) == "-3");
    CHECK(format_value(1.0) == "1");
    CHECK(format_value(0.25) == "0.25");
    CHECK(format_value(0.1) == "0.1");
    CHECK(format_value(2.5e-7) == "2.5e-07");
    CHECK(format_value(std::numeric_limits<double>::infinity()) == "+Inf");
    CHECK(format_value(-std::numeric_limits<double>::infinity()) == "-Inf");
    CHECK(format_value(std::numeric_limits<double>::quiet_NaN()) == "NaN");
}

TEST_CASE("metric and label names are checked") {
    CHECK(valid_name("imgx_proxyd_read_bytes_total"));
    CHECK(valid_name("a:b"));
    CHECK_FALSE(valid_name("a:b", /*label=*/true));
    CHECK_FALSE(valid_name("9lives"));
    CHECK_FALSE(valid_name("has-dash"));
    CHECK_FALSE(valid_name(""));
    Registry registry;
    CHECK_THROWS_AS(registry.counter("bad name", "x"), std::logic_error);
    CHECK_THROWS_AS(registry.counter("ok", "x", {{"le", "1"}}), std::logic_error);
    registry.counter("twice", "help");
    CHECK_THROWS_AS(registry.gauge("twice", "help"), std::logic_error);
}

TEST_CASE("counters and gauges are exposed with one HELP and TYPE per family") {
    Registry registry;
    Counter& bytes = registry.counter("imgx_test_bytes_total", "Bytes moved.");
    Counter& protocol =
        registry.counter("imgx_test_errors_total", "Errors by reason.", {{"reason", "protocol"}});
    Counter& checksum =
        registry.counter("imgx_test_errors_total", "Errors by reason.", {{"reason", "checksum"}});
    Gauge& open = registry.gauge("imgx_test_open", "Open things.");
    std::int64_t held = 42;
    registry.gauge_reader("imgx_test_held_bytes", "Held.", [&] { return held; });
    registry.gauge("imgx_test_build_info", "Build.", {{"version", "1.2.3"}}).set(1);

    bytes += 1000;
    bytes += 24;
    ++protocol;
    ++open;
    ++open;
    --open;
    held = 7;
    (void)checksum;

    CHECK(registry.expose() ==
          "# HELP imgx_test_bytes_total Bytes moved.\n"
          "# TYPE imgx_test_bytes_total counter\n"
          "imgx_test_bytes_total 1024\n"
          "# HELP imgx_test_errors_total Errors by reason.\n"
          "# TYPE imgx_test_errors_total counter\n"
          "imgx_test_errors_total{reason=\"protocol\"} 1\n"
          "imgx_test_errors_total{reason=\"checksum\"} 0\n"
          "# HELP imgx_test_open Open things.\n"
          "# TYPE imgx_test_open gauge\n"
          "imgx_test_open 1\n"
          "# HELP imgx_test_held_bytes Held.\n"
          "# TYPE imgx_test_held_bytes gauge\n"
          "imgx_test_held_bytes 7\n"
          "# HELP imgx_test_build_info Build.\n"
          "# TYPE imgx_test_build_info gauge\n"
          "imgx_test_build_info{version=\"1.2.3\"} 1\n");
}

TEST_CASE("a gauge guard holds one for as long as it lives") {
    Gauge gauge;
    {
        GaugeGuard first(gauge);
        GaugeGuard second(gauge);
        CHECK(gauge.value() == 2);
    }
    CHECK(gauge.value() == 0);
}

TEST_CASE("a histogram counts each observation in the first bucket that holds it") {
    Histogram h({0.5, 1, 10});
    h.observe(0.5);  // on a bound: that bucket (le is "less or equal")
    h.observe(0.7);
    h.observe(3);
    h.observe(100);  // above every bound: only +Inf
    CHECK(h.cumulative(0) == 1);
    CHECK(h.cumulative(1) == 2);
    CHECK(h.cumulative(2) == 3);
    CHECK(h.count() == 4);
    CHECK(h.sum() == Approx(104.2));
    CHECK_THROWS_AS(Histogram({1, 1}), std::logic_error);
    CHECK_THROWS_AS(Histogram({2, 1}), std::logic_error);
}

TEST_CASE("a histogram is exposed as cumulative buckets, +Inf, _sum and _count") {
    Registry registry;
    Histogram& h =
        registry.histogram("imgx_test_seconds", "Durations.", {0.25, 2}, {{"kind", "a"}});
    h.observe(0.1);
    h.observe(1.5);
    h.observe(9);
    CHECK(registry.expose() ==
          "# HELP imgx_test_seconds Durations.\n"
          "# TYPE imgx_test_seconds histogram\n"
          "imgx_test_seconds_bucket{kind=\"a\",le=\"0.25\"} 1\n"
          "imgx_test_seconds_bucket{kind=\"a\",le=\"2\"} 2\n"
          "imgx_test_seconds_bucket{kind=\"a\",le=\"+Inf\"} 3\n"
          "imgx_test_seconds_sum{kind=\"a\"} 10.6\n"
          "imgx_test_seconds_count{kind=\"a\"} 3\n");
}

TEST_CASE("an unlabelled histogram's buckets carry only le") {
    Registry registry;
    registry.histogram("imgx_test_seconds", "Durations.", {1});
    const std::string text = registry.expose();
    CHECK(contains(text, "imgx_test_seconds_bucket{le=\"1\"} 0\n"));
    CHECK(contains(text, "imgx_test_seconds_bucket{le=\"+Inf\"} 0\n"));
    CHECK(contains(text, "imgx_test_seconds_sum 0\n"));
    CHECK(contains(text, "imgx_test_seconds_count 0\n"));
}

TEST_CASE("a request head is parsed once its empty line has arrived") {
    const std::size_t limit = 1024;
    CHECK(parse_request_head("GET /metr", limit).status == RequestStatus::incomplete);
    CHECK(parse_request_head("GET /metrics HTTP/1.1\r\nHost: x\r\n", limit).status ==
          RequestStatus::incomplete);
    auto head = parse_request_head("GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", limit);
    REQUIRE(head.status == RequestStatus::complete);
    CHECK(head.method == "GET");
    CHECK(head.path == "/metrics");
    head = parse_request_head("POST /other HTTP/1.0\n\n", limit);
    REQUIRE(head.status == RequestStatus::complete);
    CHECK(head.method == "POST");
    CHECK(head.path == "/other");
}

TEST_CASE("a request head that is too long or not HTTP is refused") {
    CHECK(parse_request_head(std::string(64, 'a'), 64).status == RequestStatus::too_large);
    CHECK(parse_request_head("GET /metrics HTTP/1.1\r\n" + std::string(100, 'h') + "\r\n\r\n", 64)
              .status == RequestStatus::too_large);
    CHECK(parse_request_head("GET\r\n\r\n", 64).status == RequestStatus::malformed);
    CHECK(parse_request_head("GET /metrics SPDY/3\r\n\r\n", 64).status == RequestStatus::malformed);
    CHECK(parse_request_head("G{T /metrics HTTP/1.1\r\n\r\n", 64).status ==
          RequestStatus::malformed);
    CHECK(parse_request_head("GET /a b HTTP/1.1\r\n\r\n", 64).status == RequestStatus::malformed);
}

TEST_CASE("responses: 200 with the text format, 404, 405, 400 and 431, each closing") {
    auto render = [] { return std::string("m 1\n"); };
    RequestHead get{RequestStatus::complete, "GET", "/metrics"};
    const std::string ok = respond(get, render);
    CHECK(ok.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(contains(ok, "Content-Type: text/plain; version=0.0.4"));
    CHECK(contains(ok, "Content-Length: 4\r\n"));
    CHECK(contains(ok, "Connection: close\r\n"));
    CHECK(ok.ends_with("\r\n\r\nm 1\n"));

    RequestHead other{RequestStatus::complete, "GET", "/"};
    CHECK(respond(other, render).starts_with("HTTP/1.1 404 Not Found\r\n"));
    RequestHead post{RequestStatus::complete, "POST", "/metrics"};
    const std::string refused = respond(post, render);
    CHECK(refused.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
    CHECK(contains(refused, "Allow: GET\r\n"));
    CHECK(respond({RequestStatus::malformed}, render).starts_with("HTTP/1.1 400 "));
    CHECK(respond({RequestStatus::too_large}, render).starts_with("HTTP/1.1 431 "));
}

TEST_CASE("the metrics address is an IP address or localhost, and loopback unless allowed") {
    CHECK(parse_metrics_address("").host.empty());
    CHECK(parse_metrics_address("127.0.0.1:0").port == 0);
    CHECK(parse_metrics_address("[::1]:9100").host == "::1");
    CHECK(parse_metrics_address("localhost:9100").host == "localhost");
    CHECK_THROWS_AS(parse_metrics_address("metrics.example:9100"), std::invalid_argument);
    CHECK_THROWS_AS(parse_metrics_address("127.0.0.1"), std::invalid_argument);

    CHECK_NOTHROW(check_metrics_exposure({}, false));
    CHECK_NOTHROW(check_metrics_exposure(parse_metrics_address("127.0.0.2:1"), false));
    CHECK_NOTHROW(check_metrics_exposure(parse_metrics_address("[::1]:1"), false));
    CHECK_NOTHROW(check_metrics_exposure(parse_metrics_address("localhost:1"), false));
    CHECK_THROWS_AS(check_metrics_exposure(parse_metrics_address("0.0.0.0:9100"), false),
                    UsageError);
    CHECK_THROWS_AS(check_metrics_exposure(parse_metrics_address("[::]:9100"), false), UsageError);
    CHECK_NOTHROW(check_metrics_exposure(parse_metrics_address("0.0.0.0:9100"), true));
}

TEST_CASE("a /proc/PID/stat line gives CPU seconds, start, virtual and resident memory in units") {
    // Fields 14/15 utime/stime, 22 starttime, 23 vsize, 24 rss; the name holds ") (" and spaces.
    const std::string line =
        "4242 (img (x) cached) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1000 "
        "123456789 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
    const auto stat = imgx::metrics::parse_proc_stat(line, 100, 4096);
    REQUIRE(stat);
    CHECK(stat->cpu_seconds == 3.0);
    CHECK(stat->start_after_boot == 10.0);
    CHECK(stat->virtual_bytes == 123456789);
    CHECK(stat->resident_bytes == 300 * 4096);
    CHECK_FALSE(imgx::metrics::parse_proc_stat("4242 (cut short) S 1 2 3", 100, 4096));
    CHECK_FALSE(imgx::metrics::parse_proc_stat("no parenthesis", 100, 4096));
}

TEST_CASE("a counter read at scrape time is exposed with TYPE counter") {
    imgx::metrics::Registry registry;
    registry.counter_reader("imgx_test_spilled_bytes_total", "Spilled.", [] { return 42.0; });
    CHECK(registry.expose() ==
          "# HELP imgx_test_spilled_bytes_total Spilled.\n"
          "# TYPE imgx_test_spilled_bytes_total counter\n"
          "imgx_test_spilled_bytes_total 42\n");
}
