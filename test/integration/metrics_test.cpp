// The /metrics endpoint of both daemons, run for real: counters after a snapshot moved through
// the pair, 404/405 answers, and a client that stalls halfway through its request.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <optional>
#include <regex>
#include <thread>

#include "support/criu_client.hpp"
#include "support/daemon_pair.hpp"
#include "support/daemon_waits.hpp"
#include "support/generated_dump.hpp"
#include "support/metrics_scrape.hpp"

using namespace imgtest;

namespace {

constexpr auto kTimeout = seconds(30);
// Shorter than the daemons' 10 s limit for one scrape, so a stalled client is still
// connected when another one has been answered.
constexpr auto kAnswerTimeout = kScrapeTimeout;
constexpr int kFiles = 12;

}  // namespace

TEST_CASE(
    "a snapshot moved through the pair shows in both daemons' counters, gauges and histograms") {
    DaemonPair pair(
        {.proxy_args = {"--metrics", "127.0.0.1:0"}, .cache_args = {"--metrics", "127.0.0.1:0"}});
    const std::uint16_t proxy_port = metrics_port(pair, Side::proxy);
    const std::uint16_t cache_port = metrics_port(pair, Side::cache);
    INFO(pair.logs());
    REQUIRE(proxy_port != 0);
    REQUIRE(cache_port != 0);

    auto files = generate_files("metrics", 7, kFiles - 1);
    // CRIU's last image, named so that dump_files writes it in the counted set.
    files.push_back({std::string(kFinishingImage), std::string(kFinishingContent)});
    double total = 0;
    for (const auto& f : files) total += static_cast<double>(f.content.size());
    REQUIRE(dump_files(pair.capture_dir("job1"), files, deadline_in(kTimeout)).empty());
    REQUIRE(pair.ctl(Side::proxy, {"wait", "job1"}, kTimeout).exit_status == 0);
    REQUIRE(restore_and_compare(pair.serve_dir("job1"), files, {}, deadline_in(kTimeout)).empty());

    const std::string proxy_response = get(proxy_port, "/metrics");
    CHECK(proxy_response.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(proxy_response.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
    const std::string proxy = body_of(proxy_response);
    INFO(proxy);
    CHECK(value_of(proxy, "imgx_proxyd_read_bytes_total") == total);
    CHECK(value_of(proxy, "imgx_proxyd_sent_bytes_total") == total);
    CHECK(value_of(proxy, "imgx_proxyd_files_total") == kFiles);
    CHECK(value_of(proxy, "imgx_proxyd_snapshots_active") == 0);
    CHECK(value_of(proxy, "imgx_proxyd_files_reading") == 0);
    CHECK(value_of(proxy, "imgx_proxyd_buffer_used_bytes") == 0);
    CHECK(value_of(proxy, "imgx_proxyd_link_up") == 1);
    CHECK(value_of(proxy, "imgx_proxyd_transfer_seconds_count") == 1);
    CHECK(value_of(proxy, "imgx_proxyd_transfer_seconds_bucket{le=\"+Inf\"}") == 1);
    CHECK(value_of(proxy, "imgx_proxyd_errors_total{reason=\"protocol\"}") == 0);
    CHECK(value_of(proxy, "imgx_proxyd_errors_total{reason=\"link_lost\"}") == 0);
    CHECK(proxy.find("imgx_proxyd_build_info{version=\"") != std::string::npos);
    CHECK(proxy.find("# TYPE imgx_proxyd_read_bytes_total counter\n") != std::string::npos);

    const std::string cache = scrape_until(cache_port, "imgx_cached_served_bytes_total", total);
    INFO(cache);
    CHECK(value_of(cache, "imgx_cached_received_bytes_total") == total);
    CHECK(value_of(cache, "imgx_cached_served_bytes_total") == total);
    CHECK(value_of(cache, "imgx_cached_files_total") == kFiles);
    CHECK(value_of(cache, "imgx_cached_snapshots_active") == 0);
    CHECK(value_of(cache, "imgx_cached_snapshots_held") == 1);
    CHECK(value_of(cache, "imgx_cached_image_held_bytes") == total);
    CHECK(value_of(cache, "imgx_cached_link_sessions_total") == 1);
    CHECK(value_of(cache, "imgx_cached_link_sessions_open") == 1);
    CHECK(value_of(cache, "imgx_cached_transfer_seconds_count") == 1);
    CHECK(value_of(cache, "imgx_cached_errors_total{reason=\"checksum\"}") == 0);
    CHECK(cache.find("imgx_cached_build_info{version=\"") != std::string::npos);
}

TEST_CASE(
    "the metrics endpoint answers 404 for other paths, 405 for other methods, 431 for a huge "
    "request") {
    DaemonPair pair({.cache_args = {"--metrics", "127.0.0.1:0"}});
    const std::uint16_t port = metrics_port(pair, Side::cache);
    INFO(pair.logs());
    REQUIRE(port != 0);
    CHECK(get(port, "/").starts_with("HTTP/1.1 404 "));
    CHECK(get(port, "/metrics/extra").starts_with("HTTP/1.1 404 "));
    const std::string post = ask(port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    CHECK(post.starts_with("HTTP/1.1 405 "));
    CHECK(post.find("Allow: GET\r\n") != std::string::npos);
    CHECK(ask(port, "GET /metrics HTTP/1.1\r\nX: " + std::string(20000, 'x'))
              .starts_with("HTTP/1.1 431 "));
    CHECK(ask(port, "NONSENSE\r\n\r\n").starts_with("HTTP/1.1 400 "));
    CHECK(pair.running(Side::cache));
}

TEST_CASE("a client that sends half a request does not keep another from being answered") {
    DaemonPair pair({.proxy_args = {"--metrics", "127.0.0.1:0"}});
    const std::uint16_t port = metrics_port(pair, Side::proxy);
    INFO(pair.logs());
    REQUIRE(port != 0);

    const imgx::UniqueFd stalled = connect_loopback(port);
    REQUIRE(stalled);
    REQUIRE(write_all(stalled.get(), "GET /metr", deadline_in(kAnswerTimeout)).status ==
            IoStatus::ok);

    const std::string answered = get(port, "/metrics");
    CHECK(answered.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(value_of(body_of(answered), "imgx_proxyd_criu_connections") == 0);
    // The stalled client is still connected, so the answer did not wait for it to go away...
    CHECK_FALSE(wait_peer_closed(stalled.get(), deadline_in(milliseconds(0))));
    // ...and it is answered once its request is whole.
    REQUIRE(write_all(stalled.get(), "ics HTTP/1.1\r\n\r\n", deadline_in(kAnswerTimeout)).status ==
            IoStatus::ok);
    CHECK(read_to_eof(stalled.get(), deadline_in(kAnswerTimeout))
              .data.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(pair.running(Side::proxy));
}

TEST_CASE("metrics are off by default, and a non-loopback address needs metrics-allow-remote") {
    const auto& paths = daemon_paths_or_skip();
    TempDir dir;
    // An empty configuration file, so that no file of this host is read.
    const std::string none = dir.path() + "/empty.toml";
    { std::ofstream create(none); }
    auto refused = run_command({paths.cached, "--config", none, "--listen", "127.0.0.1:0",
                                "--plain-tcp", "--metrics", "0.0.0.0:9100", "--check-config"},
                               kAnswerTimeout);
    CHECK(refused.exit_status == 2);
    CHECK(refused.err.find("metrics_allow_remote") != std::string::npos);
    auto allowed =
        run_command({paths.cached, "--config", none, "--listen", "127.0.0.1:0", "--plain-tcp",
                     "--metrics", "0.0.0.0:9100", "--metrics-allow-remote", "--check-config"},
                    kAnswerTimeout);
    CHECK(allowed.exit_status == 0);
    auto printed = run_command({paths.proxyd, "--config", none, "--cache", "127.0.0.1:7411",
                                "--plain-tcp", "--print-config"},
                               kAnswerTimeout);
    CHECK(printed.exit_status == 0);
    CHECK(printed.out.find("metrics = \"\"\n") != std::string::npos);
    CHECK(printed.out.find("metrics_allow_remote = false\n") != std::string::npos);
}
