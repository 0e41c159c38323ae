// TLS on the link: mutual X.509 authentication, identity pinning, name checks, revocation,
// certificate reload. Certificates are made for each test by the openssl command line.
#include <signal.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "support/content.hpp"
#include "support/criu_client.hpp"
#include "support/daemon_pair.hpp"
#include "support/generated_dump.hpp"
#include "support/log_wait.hpp"
#include "support/pipe_writer.hpp"
#include "support/test_pki.hpp"

using namespace imgtest;

namespace {

constexpr auto kTimeout = seconds(20);
constexpr std::size_t kPagesBytes = 3 << 20;  // several DATA frames
// How long a dump waits for a link that cannot come up before it fails.
constexpr const char* kLinkWait = "2";

// A CA, img-cached's certificate (localhost and 127.0.0.1) and img-proxyd's (proxy1.test).
struct Certificates {
    TempDir dir;
    TestPki pki{dir.path()};
    std::string ca = pki.make_ca("ca");
    IssuedCertificate cache = pki.issue("ca", "cache", {"localhost"}, {"127.0.0.1"});
    IssuedCertificate proxy = pki.issue("ca", "proxy1", {"proxy1.test"});
};

std::vector<std::string> tls_args(const std::string& ca, const IssuedCertificate& own) {
    return {"--tls-ca", ca, "--tls-cert", own.cert, "--tls-key", own.key};
}

// Both daemons with TLS; `cache_extra` and `proxy_extra` are appended (or replace it all).
PairOptions tls_pair(const Certificates& c, std::vector<std::string> cache_extra = {},
                     std::vector<std::string> proxy_extra = {}) {
    PairOptions options;
    options.plain_tcp = false;
    options.cache_args = tls_args(c.ca, c.cache);
    options.cache_args.insert(options.cache_args.end(), {"--tls-allow-client", "proxy1.test"});
    options.cache_args.insert(options.cache_args.end(), cache_extra.begin(), cache_extra.end());
    options.proxy_args = tls_args(c.ca, c.proxy);
    options.proxy_args.insert(options.proxy_args.end(), {"--link-wait", kLinkWait});
    options.proxy_args.insert(options.proxy_args.end(), proxy_extra.begin(), proxy_extra.end());
    return options;
}

// One CRIU dump of pages-1.img and inventory.img on job1; "" or what went wrong.
std::string dump_pages(const DaemonPair& pair, const std::string& pages) {
    return dump_files(pair.capture_dir("job1"), {{"pages-1.img", pages}, {"inventory.img", "inv"}},
                      deadline_in(kTimeout));
}

// Dumps `pages` (and inventory.img), waits for img-proxyd's confirmation, restores pages-1.img
// and compares it.
void migrate_pages(DaemonPair& pair, const std::string& pages) {
    REQUIRE(dump_pages(pair, pages).empty());
    CHECK(pair.ctl(Side::proxy, {"wait", "job1", "--timeout", "20"}, seconds(30)).exit_status == 0);
    StreamRestoreSession restore(pair.serve_dir("job1"));
    std::string got;
    REQUIRE(restore.fetch("pages-1.img", got, deadline_in(kTimeout)) == Answer::exists);
    CHECK(got == pages);
}

std::string log_of(DaemonPair& pair, Side side) {
    return read_text_file(pair.process(side).log_path());
}

// Waits until `side`'s log contains `text` (bounded); the log either way.
std::string wait_for_log(DaemonPair& pair, Side side, const std::string& text) {
    poll_until([&] { return log_of(pair, side).find(text) != std::string::npos; },
               deadline_in(kTimeout));
    return log_of(pair, side);
}

// The dump fails at img-proxyd as when the cache is unreachable, with `proxy_reason` in the
// reason; img-cached logs `cache_reason` and stores nothing.
void expect_link_refused(DaemonPair& pair, const std::string& proxy_reason,
                         const std::string& cache_reason) {
    const auto dumped = dump_pages(pair, make_content(71, kPagesBytes));
    INFO("the dump: " << (dumped.empty() ? "completed on CRIU's side" : dumped));
    auto wait = pair.ctl(Side::proxy, {"wait", "job1", "--timeout", "20"}, seconds(30));
    INFO("img-ctl wait on img-proxyd: " << wait.out << wait.err);
    CHECK(wait.exit_status == 1);
    CHECK(wait.err.find("unreachable") != std::string::npos);
    CHECK(wait.err.find(proxy_reason) != std::string::npos);
    CHECK(wait_for_log(pair, Side::cache, cache_reason).find(cache_reason) != std::string::npos);
    auto status = pair.ctl(Side::cache, {"status"});
    CHECK(status.exit_status == 0);
    CHECK(status.out.find("no snapshots") != std::string::npos);
    CHECK(log_of(pair, Side::cache).find("snapshot 'job1' begins") == std::string::npos);
}

}  // namespace

TEST_CASE(
    "a migration over TLS delivers identical bytes, both sides naming the peer's certificate") {
    Certificates certs;
    DaemonPair pair(tls_pair(certs));
    migrate_pages(pair, make_content(70, kPagesBytes));
    CHECK(log_of(pair, Side::cache).find("certificate identity 'proxy1.test'") !=
          std::string::npos);
    CHECK(log_of(pair, Side::proxy).find("(TLS, certificate of 'localhost')") != std::string::npos);
}

TEST_CASE("a migration over TLS on four link lanes delivers identical bytes") {
    Certificates certs;
    DaemonPair pair(tls_pair(certs, {}, {"--link-streams", "4"}));
    migrate_pages(pair, make_content(74, 4 * kPagesBytes));
    CHECK(log_of(pair, Side::cache).find("as lane 3") != std::string::npos);
}

TEST_CASE(
    "fault: proxy certificate from another CA -> dump fails at the proxy (unknown CA), cache "
    "stores nothing",
    "[fault]") {
    Certificates certs;
    certs.pki.make_ca("other");
    const auto stranger = certs.pki.issue("other", "stranger", {"proxy1.test"});
    auto options = tls_pair(certs);
    options.proxy_args = tls_args(certs.ca, stranger);
    options.proxy_args.insert(options.proxy_args.end(), {"--link-wait", kLinkWait});
    DaemonPair pair(options);
    expect_link_refused(pair, "CA it does not trust", "issued by a CA not in tls_ca");
}

TEST_CASE(
    "fault: proxy identity not in tls_allowed_clients -> dump fails at the proxy, cache stores "
    "nothing",
    "[fault]") {
    Certificates certs;
    auto options = tls_pair(certs);
    options.cache_args = tls_args(certs.ca, certs.cache);
    options.cache_args.insert(options.cache_args.end(), {"--tls-allow-client", "proxy2.test"});
    DaemonPair pair(options);
    expect_link_refused(pair, "tls_allowed_clients",
                        "identity ('proxy1.test') is not in tls_allowed_clients ('proxy2.test')");
}

TEST_CASE(
    "fault: cache certificate not matching tls_server_name -> dump fails at the proxy (name "
    "mismatch)",
    "[fault]") {
    Certificates certs;
    DaemonPair pair(tls_pair(certs, {}, {"--tls-server-name", "cache.elsewhere.test"}));
    expect_link_refused(pair, "hostname mismatch (expected 'cache.elsewhere.test'",
                        "refused this daemon's certificate");
}

TEST_CASE(
    "fault: plain TCP img-proxyd against a TLS img-cached -> dump fails at the proxy, cache stores "
    "nothing",
    "[fault]") {
    Certificates certs;
    auto options = tls_pair(certs);
    options.proxy_args = {"--plain-tcp", "--link-wait", kLinkWait};
    DaemonPair pair(options);
    expect_link_refused(pair, "", "does not speak TLS");
}

TEST_CASE(
    "fault: revoked proxy certificate with tls_crl -> dump fails at the proxy (revoked), cache "
    "stores nothing",
    "[fault]") {
    Certificates certs;
    const std::string crl = certs.pki.revoke("ca", certs.proxy);
    DaemonPair pair(tls_pair(certs, {"--tls-crl", crl}));
    expect_link_refused(pair, "revoked", "certificate revoked");
}

TEST_CASE("fault: client without a certificate -> refused by img-cached, nothing stored",
          "[fault]") {
    Certificates certs;
    auto options = tls_pair(certs);
    options.start_proxy = false;
    DaemonPair pair(options);
    auto client = run_command(
        {"/usr/bin/openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(pair.port()),
         "-CAfile", certs.ca, "-tls1_3", "-quiet", "-no_ign_eof"},
        seconds(10));
    INFO("openssl s_client: " << client.out << client.err);
    CHECK(wait_for_log(pair, Side::cache, "sent no certificate").find("sent no certificate") !=
          std::string::npos);
    CHECK(pair.ctl(Side::cache, {"status"}).out.find("no snapshots") != std::string::npos);
}

TEST_CASE(
    "certificates replaced and SIGHUP: new link connections use the new ones; unusable files are "
    "refused") {
    Certificates certs;
    DaemonPair pair(tls_pair(certs));
    REQUIRE(wait_for_log(pair, Side::proxy, "certificate of 'localhost'").find("is up (TLS") !=
            std::string::npos);

    // Unusable files: the reload is refused and the old certificate stays. A missing key first.
    const std::string key_away = certs.dir.path() + "/cache-key-away.pem";
    std::filesystem::rename(certs.cache.key, key_away);
    ::kill(pair.process(Side::cache).pid(), SIGHUP);
    const std::string no_key = "tls_key " + certs.cache.key + ": cannot read";
    CHECK(wait_for_log(pair, Side::cache, no_key).find("reload refused") != std::string::npos);
    std::filesystem::rename(key_away, certs.cache.key);
    std::filesystem::copy_file(certs.cache.cert, certs.dir.path() + "/cache-saved.pem");
    std::filesystem::resize_file(certs.cache.cert, 0);
    ::kill(pair.process(Side::cache).pid(), SIGHUP);
    const std::string no_cert = "tls_cert " + certs.cache.cert + ": no usable";
    CHECK(wait_for_log(pair, Side::cache, no_cert).find(no_cert) != std::string::npos);
    CHECK(pair.process(Side::cache).running());
    CHECK(pair.ctl(Side::cache, {"status"}).exit_status == 0);

    // A new certificate with another name at the same paths.
    const auto renewed =
        certs.pki.issue("ca", "cache-renewed", {"localhost", "renewed.test"}, {"127.0.0.1"});
    std::filesystem::copy_file(renewed.cert, certs.cache.cert,
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(renewed.key, certs.cache.key,
                               std::filesystem::copy_options::overwrite_existing);
    ::kill(pair.process(Side::cache).pid(), SIGHUP);
    CHECK(wait_for_log(pair, Side::cache, "new link connections use").find("'renewed.test'") !=
          std::string::npos);

    // The connection open before the reload goes on; a new one gets the new certificate.
    const auto pages = make_content(72, kPagesBytes);
    REQUIRE(dump_pages(pair, pages).empty());
    CHECK(pair.ctl(Side::proxy, {"wait", "job1", "--timeout", "20"}, seconds(30)).exit_status == 0);
    pair.kill_proxy();
    pair.restart_proxy();
    CHECK(wait_for_log(pair, Side::proxy, "'renewed.test')").find("'renewed.test')") !=
          std::string::npos);
    REQUIRE(dump_pages(pair, pages).empty());
    CHECK(pair.ctl(Side::proxy, {"wait", "job1", "--timeout", "20"}, seconds(30)).exit_status == 0);
}
