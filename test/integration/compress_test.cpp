// Compression on the link, run for real: zstd chunks arrive byte-exact and shrink on the wire,
// `off` (whose HELLO offers no codec, as an older img-proxyd's) and random pages in `auto` send
// none compressed.
#include <catch2/catch.hpp>
#include <regex>
#include <string>

#include "support/content.hpp"
#include "support/criu_client.hpp"
#include "support/daemon_pair.hpp"
#include "support/daemon_waits.hpp"
#include "support/metrics_scrape.hpp"
#include "support/pipe_writer.hpp"

using namespace imgtest;

namespace {

constexpr auto kTimeout = seconds(30);
constexpr std::size_t kMiB = 1 << 20;

// Pages of text records (words, numbers, ids): compresses several times, unlike make_content.
std::string records_content(std::uint64_t seed, std::size_t size) {
    static const char* words[] = {"customer", "order", "status", "shipped", "pending", "amount",
                                  "currency", "EUR",   "name",   "address", "city",    "zip"};
    std::string out;
    out.reserve(size + 128);
    std::uint64_t state = seed * 0x9e3779b97f4a7c15ULL + 1;
    auto next = [&state] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    while (out.size() < size) {
        out += "{'id': " + std::to_string(next() % 10000000) + ", '";
        out += words[next() % 12];
        out += "': '";
        out += words[next() % 12];
        out += "', 'n': " + std::to_string(next() % 1000) + "}, ";
    }
    out.resize(size);
    return out;
}

// One dump of job1 (`name` then inventory.img), waited for on both sides, then served back.
void migrate(DaemonPair& pair, const std::string& name, const std::string& content) {
    StreamDumpSession session(pair.capture_dir("job1"));
    REQUIRE(write_and_close(session.announce(name), content, deadline_in(kTimeout)).status ==
            IoStatus::ok);
    REQUIRE(session.finish(deadline_in(kTimeout)));
    REQUIRE(pair.ctl(Side::proxy, {"wait", "job1"}, kTimeout).exit_status == 0);
    StreamRestoreSession restore(pair.serve_dir("job1"));
    std::string got;
    REQUIRE(restore.fetch(name, got, deadline_in(kTimeout)) == Answer::exists);
    CHECK(got == content);
}

double metric(const std::string& exposition, const std::string& series) {
    return value_of(exposition, series).value_or(-1);
}

}  // namespace

TEST_CASE("--compress zstd: compressible pages arrive byte-exact and shrink on the link") {
    DaemonPair pair({.proxy_args = {"--compress", "zstd", "--metrics", "127.0.0.1:0"}});
    const std::uint16_t port = metrics_port(pair, Side::proxy);
    REQUIRE(port != 0);
    const auto pages = records_content(5, 8 * kMiB + 12345);
    migrate(pair, "pages-1.img", pages);
    const std::string proxy = scrape(port);
    INFO(proxy);
    INFO(pair.logs());
    const double before = metric(proxy, "imgx_proxyd_link_chunk_bytes_total");
    const double after = metric(proxy, "imgx_proxyd_link_chunk_sent_bytes_total");
    CHECK(before >= static_cast<double>(pages.size()));
    CHECK(after > 0);
    CHECK(after < before / 2);
    CHECK(metric(proxy, "imgx_proxyd_compressed_chunks_total") >= 8);
    CHECK(metric(proxy, "imgx_proxyd_sent_bytes_total") == before);  // image bytes, as CRIU wrote
    CHECK(wait_for_log_line(pair, Side::proxy, std::regex("complete: .*compression ratio"),
                            deadline_in(kTimeout)));
    const auto status = pair.ctl(Side::proxy, {"status"}, kTimeout);
    CHECK(status.out.find("compressed: ") != std::string::npos);
}

// Migrates `pages` with img-proxyd in `mode`; not one chunk may go compressed.
void check_nothing_compressed(const std::string& mode, const std::string& pages) {
    DaemonPair pair({.proxy_args = {"--compress", mode, "--metrics", "127.0.0.1:0"}});
    const std::uint16_t port = metrics_port(pair, Side::proxy);
    REQUIRE(port != 0);
    migrate(pair, "pages-1.img", pages);
    const std::string proxy = scrape(port);
    INFO(proxy);
    CHECK(metric(proxy, "imgx_proxyd_compressed_chunks_total") == 0);
    CHECK(metric(proxy, "imgx_proxyd_link_chunk_sent_bytes_total") ==
          metric(proxy, "imgx_proxyd_link_chunk_bytes_total"));
}

TEST_CASE("--compress off: the HELLO offers no codec and nothing is sent compressed") {
    check_nothing_compressed("off", records_content(6, 4 * kMiB));
}

TEST_CASE("--compress auto: random pages are sent (almost) uncompressed") {
    check_nothing_compressed("auto", make_content(7, 16 * kMiB));
}
