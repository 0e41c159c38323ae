// The daemons' configuration files, run for real: --check-config, --print-config, and a daemon
// that takes its addresses and endpoints from a file alone.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "criu/stream_codec.hpp"
#include "support/daemon_pair.hpp"
#include "support/generated_dump.hpp"
#include "support/log_wait.hpp"
#include "support/test_pki.hpp"
#include "support/test_status.hpp"

using namespace imgtest;

namespace {

constexpr auto kCommandTimeout = seconds(10);
constexpr auto kTimeout = seconds(20);

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string describe(const CommandResult& r) {
    return "status " + std::to_string(r.exit_status) + (r.timed_out ? " (timed out)" : "") +
           "\nstdout: " + r.out + "\nstderr: " + r.err;
}

std::size_t line_count(const std::string& text) {
    std::size_t lines = std::count(text.begin(), text.end(), '\n');
    if (!text.empty() && text.back() != '\n') ++lines;
    return lines;
}

// Waits until every UNIX socket listens; false if the daemon exits first or 10 s pass.
bool wait_ready(ChildProcess& child, const std::vector<std::string>& sockets) {
    return poll_until(
               [&] {
                   bool ready = true;
                   for (const auto& s : sockets) ready = ready && unix_socket_listening(s);
                   return ready || !child.running();
               },
               deadline_in(seconds(10))) &&
           child.running();
}

}  // namespace

TEST_CASE(
    "--check-config exits 0 for a valid configuration and 2 naming file, line and key of an "
    "error") {
    const auto& paths = daemon_paths_or_skip();
    TempDir dir;
    const std::string file = dir.path() + "/img-cached.toml";
    write_file(file,
               "# destination\nlisten = \"127.0.0.1:7411\"\nplain_tcp = true\n[[serve]]\ndir = "
               "\"/srv/migrate/job1\"\n");

    auto ok = run_command({paths.cached, "--config", file, "--check-config"}, kCommandTimeout);
    INFO(describe(ok));
    CHECK(ok.exit_status == 0);
    CHECK(ok.out.find(file) != std::string::npos);

    // An error in a drop-in: that file, its line, its key; one line on stderr.
    dir.make_dir("img-cached.toml.d");
    write_file(file + ".d/10-wait.toml", "remote_data = \"pipe\"\nremote_wait_seconds = \"ten\"\n");
    auto bad = run_command({paths.cached, "--config", file, "--check-config"}, kCommandTimeout);
    INFO(describe(bad));
    CHECK(bad.exit_status == 2);
    CHECK(line_count(bad.err) == 1);
    CHECK(bad.err.find(file + ".d/10-wait.toml:2: key 'remote_wait_seconds'") != std::string::npos);

    // An unknown key, with the suggestion.
    write_file(file + ".d/10-wait.toml", "lisen = \"0.0.0.0:7411\"\n");
    auto typo = run_command({paths.cached, "--config", file, "--check-config"}, kCommandTimeout);
    INFO(describe(typo));
    CHECK(typo.exit_status == 2);
    CHECK(typo.err == "img-cached: " + file +
                          ".d/10-wait.toml:1: unknown key 'lisen' (did you mean 'listen'?)\n");

    // Flags are validated too.
    std::filesystem::remove(file + ".d/10-wait.toml");
    auto flag = run_command(
        {paths.cached, "--config", file, "--remote-wait", "0", "--check-config"}, kCommandTimeout);
    INFO(describe(flag));
    CHECK(flag.exit_status == 2);
    CHECK(line_count(flag.err) == 1);

    // A file named with --config must exist.
    auto missing = run_command(
        {paths.proxyd, "--config", dir.path() + "/nope.toml", "--check-config"}, kCommandTimeout);
    INFO(describe(missing));
    CHECK(missing.exit_status == 2);
    CHECK(missing.err == "img-proxyd: " + dir.path() + "/nope.toml: no such file\n");

    const std::string proxy_file = dir.path() + "/img-proxyd.toml";
    write_file(proxy_file, "cache = \"dest.example:7411\"\nbuffers = 1\nplain_tcp = true\n");
    auto range =
        run_command({paths.proxyd, "--config", proxy_file, "--check-config"}, kCommandTimeout);
    INFO(describe(range));
    CHECK(range.exit_status == 2);
    CHECK(range.err ==
          "img-proxyd: " + proxy_file + ":2: key 'buffers': 1 is not a number from 2 to 4096\n");
}

TEST_CASE("--print-config prints the merged configuration, which reads back to itself") {
    const auto& paths = daemon_paths_or_skip();
    TempDir dir;
    const std::string file = dir.path() + "/img-proxyd.toml";
    write_file(file,
               "cache = \"dest.example:7411\"\nplain_tcp = true\nbuffers = 8\n[[capture]]\ndir = "
               "\"/srv/a\"\n");
    dir.make_dir("img-proxyd.toml.d");
    write_file(file + ".d/50-more.toml", "buffers = 64\nlink_wait_seconds = 3\n");

    auto printed = run_command({paths.proxyd, "--config", file, "--link-wait", "4", "--capture",
                                "/srv/b=job", "--print-config"},
                               kCommandTimeout);
    INFO(describe(printed));
    REQUIRE(printed.exit_status == 0);
    CHECK(printed.out.find("cache = \"dest.example:7411\"\n") != std::string::npos);
    CHECK(printed.out.find("buffers = 64\n") != std::string::npos);
    CHECK(printed.out.find("link_wait_seconds = 4\n") != std::string::npos);
    CHECK(printed.out.find("dir = \"/srv/a\"\nsnapshot = \"a\"\n") != std::string::npos);
    CHECK(printed.out.find("dir = \"/srv/b\"\nsnapshot = \"job\"\n") != std::string::npos);

    const std::string copy = dir.path() + "/printed.toml";
    write_file(copy, printed.out);
    auto again = run_command({paths.proxyd, "--config", copy, "--print-config"}, kCommandTimeout);
    INFO(describe(again));
    CHECK(again.exit_status == 0);
    CHECK(again.out == printed.out);

    auto cache = run_command(
        {paths.cached, "--config", dir.path() + "/none.toml", "--print-config"}, kCommandTimeout);
    CHECK(cache.exit_status == 2);
    auto flags_only = run_command(
        {paths.cached, "--listen", "[::1]:7411", "--plain-tcp", "--print-config"}, kCommandTimeout);
    INFO(describe(flags_only));
    CHECK(flags_only.exit_status == 0);
    CHECK(flags_only.out.find("listen = \"[::1]:7411\"\n") != std::string::npos);
}

TEST_CASE(
    "daemons started with only --config take addresses and endpoints from the file, and migrate") {
    const auto& paths = daemon_paths_or_skip();
    TempDir dir;
    const std::string src = dir.make_dir("src/job1");
    const std::string dst = dir.make_dir("dst/job1");
    const std::string cache_control = dir.path() + "/cached.ctl";
    const std::string proxy_control = dir.path() + "/proxyd.ctl";

    const std::string cache_file = dir.path() + "/img-cached.toml";
    // Port 0: img-cached binds a free port and names it in its ready line.
    write_file(cache_file, "listen = \"127.0.0.1:0\"\nplain_tcp = true\ncontrol = \"" +
                               cache_control + "\"\nlog_level = \"debug\"\n[[serve]]\ndir = \"" +
                               dst + "\"\n");
    ChildProcess cached({paths.cached, "--config", cache_file}, dir.path() + "/img-cached.log");
    const bool cache_ready = wait_ready(
        cached, {cache_control, dst + "/" + std::string(imgx::criu::kStreamServeSocket)});
    const std::uint16_t port = wait_for_link_port(cached.log_path(), deadline_in(seconds(10)));
    CHECK(port != 0);
    const std::string proxy_file = dir.path() + "/img-proxyd.toml";
    write_file(proxy_file, "cache = \"127.0.0.1:" + std::to_string(port) +
                               "\"\nplain_tcp = true\ncontrol = \"" + proxy_control +
                               "\"\nlog_level = \"debug\"\nbuffers = 4\n[[capture]]\ndir = \"" +
                               src + "\"\nsnapshot = \"job1\"\n");

    ChildProcess proxyd({paths.proxyd, "--config", proxy_file}, dir.path() + "/img-proxyd.log");
    const bool proxy_ready = wait_ready(
        proxyd, {proxy_control, src + "/" + std::string(imgx::criu::kStreamCaptureSocket)});
    INFO("img-cached log:\n"
         << read_text_file(cached.log_path()) << "\nimg-proxyd log:\n"
         << read_text_file(proxyd.log_path()));
    REQUIRE(cache_ready);
    REQUIRE(proxy_ready);

    const auto files = generate_files("cfg", 7, 4);
    CHECK(dump_files(src, files, deadline_in(kTimeout)) == "");
    CHECK(restore_and_compare(dst, files, {"absent.img"}, deadline_in(kTimeout)) == "");

    CHECK(cached.stop(seconds(5)));
    CHECK(proxyd.stop(seconds(5)));
    if (current_test_failed()) dir.keep();
}

TEST_CASE("the example configuration files in packaging/ are valid, and their commented keys too") {
    const auto& paths = daemon_paths_or_skip();
    const char* source = std::getenv("IMG_SOURCE_DIR");
    if (!source) skip_test("IMG_SOURCE_DIR is not set (run through meson test)");
    TempDir dir;
    TestPki pki(dir.path());
    const std::string ca = pki.make_ca("ca");
    for (const auto& [program, name] :
         {std::pair{paths.proxyd, "img-proxyd"}, std::pair{paths.cached, "img-cached"}}) {
        const std::string example = std::string(source) + "/packaging/" + name + ".toml";
        auto as_shipped =
            run_command({program, "--config", example, "--check-config"}, kCommandTimeout);
        INFO(describe(as_shipped));
        // --check-config reads the TLS files; they are the operator's to install.
        CHECK(as_shipped.exit_status == 2);
        CHECK(as_shipped.err.find(": cannot read: No such file or directory") != std::string::npos);

        // The same file with the TLS files where it expects them (here: in the test's directory).
        const std::string tls_dir = dir.make_dir(std::string(name) + "-tls");
        const auto own = pki.issue("ca", name, {std::string(name) + ".test"});
        std::filesystem::copy_file(ca, tls_dir + "/ca.pem");
        std::filesystem::copy_file(own.cert, tls_dir + "/" + name + ".pem");
        std::filesystem::copy_file(own.key, tls_dir + "/" + name + ".key");
        const std::string shipped_tls = "\"/etc/" + std::string(name) + "/tls/";
        std::ifstream in(example);
        std::string line, relocated, uncommented;
        while (std::getline(in, line)) {
            if (const auto at = line.find(shipped_tls); at != std::string::npos)
                line.replace(at, shipped_tls.size(), "\"" + tls_dir + "/");
            relocated += line + "\n";
        }
        const std::string installed = dir.path() + "/" + name + "-installed.toml";
        write_file(installed, relocated);
        auto valid =
            run_command({program, "--config", installed, "--check-config"}, kCommandTimeout);
        INFO(relocated << "\n" << describe(valid));
        CHECK(valid.exit_status == 0);

        // Every "#key = value" and "#[[table]]" line uncommented: still valid, so each documented
        // key exists and its documented default parses.
        std::istringstream lines(relocated);
        int keys = 0;
        while (std::getline(lines, line)) {
            const bool key_line = line.size() > 1 && line[0] == '#' &&
                                  (std::islower(static_cast<unsigned char>(line[1])) ||
                                   line.compare(1, 2, "[[") == 0);
            if (key_line && line.find(" = ") == std::string::npos && line.compare(1, 2, "[[") != 0)
                continue;
            if (key_line) ++keys;
            uncommented += (key_line ? line.substr(1) : line) + "\n";
        }
        CHECK(keys >= 7);
        const std::string copy = dir.path() + "/" + name + ".toml";
        write_file(copy, uncommented);
        auto all_keys = run_command({program, "--config", copy, "--check-config"}, kCommandTimeout);
        INFO(uncommented << "\n" << describe(all_keys));
        CHECK(all_keys.exit_status == 0);
    }
}

TEST_CASE(
    "a TLS file that cannot be read or used exits 2 naming the key and the file, at start and in "
    "--check-config") {
    const auto& paths = daemon_paths_or_skip();
    TempDir dir;
    TestPki pki(dir.path());
    const std::string ca = pki.make_ca("ca");
    const auto cache = pki.issue("ca", "cache", {"localhost"});
    const auto other = pki.issue("ca", "other", {"other.test"});
    const std::string garbage = dir.path() + "/garbage.pem";
    write_file(garbage, "not PEM at all\n");
    const std::string missing = dir.path() + "/missing.pem";

    struct Case {
        const char* what;
        std::string ca, cert, key, expected;
    };
    const std::vector<Case> cases = {
        {"a missing certificate", ca, missing, cache.key, "tls_cert " + missing + ": cannot read"},
        {"a missing key", ca, cache.cert, missing, "tls_key " + missing + ": cannot read"},
        {"a missing CA", missing, cache.cert, cache.key, "tls_ca " + missing + ": cannot read"},
        {"a CA file that is not PEM", garbage, cache.cert, cache.key,
         "tls_ca " + garbage + ": no usable PEM CA certificate"},
        {"a key that is not PEM", ca, cache.cert, garbage,
         "tls_key " + garbage + ": no usable PEM private key"},
        {"the key of another certificate", ca, cache.cert, other.key,
         "tls_key " + other.key + " is not the key of tls_cert " + cache.cert},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        const std::vector<std::string> argv = {paths.cached,
                                               "--listen",
                                               "127.0.0.1:0",
                                               "--control",
                                               dir.path() + "/cached.ctl",
                                               "--tls-ca",
                                               c.ca,
                                               "--tls-cert",
                                               c.cert,
                                               "--tls-key",
                                               c.key,
                                               "--tls-allow-client",
                                               "proxy1.test"};
        auto checked = argv;
        checked.push_back("--check-config");
        auto check = run_command(checked, kCommandTimeout);
        INFO(describe(check));
        CHECK(check.exit_status == 2);
        CHECK(line_count(check.err) == 1);
        CHECK(check.err.rfind("img-cached: " + c.expected, 0) == 0);

        auto started = run_command(argv, kCommandTimeout);
        INFO("started: " << describe(started));
        CHECK(started.exit_status == 2);
        CHECK(started.err.find(c.expected) != std::string::npos);
    }

    // The same files as they should be: valid.
    auto good = run_command(
        {paths.cached, "--listen", "127.0.0.1:0", "--tls-ca", ca, "--tls-cert", cache.cert,
         "--tls-key", cache.key, "--tls-allow-client", "proxy1.test", "--check-config"},
        kCommandTimeout);
    INFO(describe(good));
    CHECK(good.exit_status == 0);
}

TEST_CASE(
    "plain_tcp = true in a drop-in turns off the TLS keys of the main file, saying so; both in "
    "one file stay a conflict") {
    const auto& paths = daemon_paths_or_skip();
    TempDir dir;
    const std::string control = dir.path() + "/cached.ctl";
    const std::string file = dir.path() + "/img-cached.toml";
    // As the shipped conffile: TLS keys (files that are not installed) and allowed clients.
    write_file(file, "listen = \"127.0.0.1:0\"\ncontrol = \"" + control +
                         "\"\ntls_ca = \"/etc/img-cached/tls/ca.pem\"\ntls_cert = "
                         "\"/etc/img-cached/tls/img-cached.pem\"\ntls_key = "
                         "\"/etc/img-cached/tls/img-cached.key\"\ntls_allowed_clients = "
                         "[\"src1.example\"]\n");
    dir.make_dir("img-cached.toml.d");
    const std::string drop_in = file + ".d/50-plain.toml";
    write_file(drop_in, "plain_tcp = true\n");
    const std::string note =
        "plain_tcp = true turns off the TLS keys (tls_ca, tls_cert, tls_key, "
        "tls_crl) set in " +
        file + ": they are ignored";

    auto check = run_command({paths.cached, "--config", file, "--check-config"}, kCommandTimeout);
    INFO(describe(check));
    CHECK(check.exit_status == 0);
    CHECK(check.out.find("img-cached: note: " + note) != std::string::npos);
    auto printed = run_command({paths.cached, "--config", file, "--print-config"}, kCommandTimeout);
    CHECK(printed.out.find("plain_tcp = true\n") != std::string::npos);
    CHECK(printed.out.find("tls_ca = \"\"\n") != std::string::npos);

    // The daemon runs plain TCP and says which keys it ignores.
    ChildProcess cached({paths.cached, "--config", file}, dir.path() + "/img-cached.log");
    CHECK(wait_ready(cached, {control}));
    const std::string log = read_text_file(cached.log_path());
    CHECK(log.find(note) != std::string::npos);
    CHECK(log.find("neither encrypted nor authenticated") != std::string::npos);
    CHECK(cached.stop(seconds(5)));

    // --plain-tcp is the last layer: the same.
    std::filesystem::remove(drop_in);
    auto flag = run_command({paths.cached, "--config", file, "--plain-tcp", "--check-config"},
                            kCommandTimeout);
    INFO(describe(flag));
    CHECK(flag.exit_status == 0);
    CHECK(flag.out.find("note: plain_tcp = true turns off") != std::string::npos);

    // Both in one layer: which one is meant is not clear.
    write_file(drop_in, "plain_tcp = true\ntls_ca = \"/etc/img-cached/tls/other-ca.pem\"\n");
    auto both = run_command({paths.cached, "--config", file, "--check-config"}, kCommandTimeout);
    INFO(describe(both));
    CHECK(both.exit_status == 2);
    CHECK(both.err.find("both TLS (tls_ca, tls_cert, tls_key) and plain_tcp are set in " +
                        drop_in) != std::string::npos);
}
