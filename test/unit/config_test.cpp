// Configuration files of both daemons: precedence, drop-ins, errors with file:line:key,
// print-config.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "cached/cache_config.hpp"
#include "config/config_file.hpp"
#include "proxyd/proxy_config.hpp"
#include "support/temp_dir.hpp"

using namespace imgx;
using imgtest::TempDir;

namespace {

void write_file(const std::string& path, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
}

// Runs a parse function over argv given as strings (argv[0] is the program).
template <class Parse>
auto run(Parse parse, std::vector<std::string> args, const std::string& default_config) {
    args.insert(args.begin(), "img-daemon");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return parse(static_cast<int>(argv.size()), argv.data(), default_config);
}

// The daemons as the tests below mostly use them: the link as plain TCP, said explicitly.
proxyd::ProxyCommand proxy_link_as_given(
    std::vector<std::string> args, const std::string& default_config = "/nonexistent/p.toml") {
    return run(proxyd::parse_proxy_command, std::move(args), default_config);
}

cached::CacheCommand cache_link_as_given(
    std::vector<std::string> args, const std::string& default_config = "/nonexistent/c.toml") {
    return run(cached::parse_cache_command, std::move(args), default_config);
}

proxyd::ProxyCommand proxy(std::vector<std::string> args,
                           const std::string& default_config = "/nonexistent/p.toml") {
    args.push_back("--plain-tcp");
    return proxy_link_as_given(std::move(args), default_config);
}

cached::CacheCommand cache(std::vector<std::string> args,
                           const std::string& default_config = "/nonexistent/c.toml") {
    args.push_back("--plain-tcp");
    return cache_link_as_given(std::move(args), default_config);
}

// The message of the UsageError `f` throws (fails the test if it throws nothing).
template <class F>
std::string usage_error(F&& f) {
    try {
        f();
    } catch (const UsageError& e) {
        return e.what();
    }
    FAIL("no UsageError");
    return {};
}

// The ConfigError a parse throws (fails the test if it throws nothing or something else).
template <class F>
config::ConfigError config_error(F&& f) {
    try {
        f();
    } catch (const config::ConfigError& e) {
        return e;
    }
    FAIL("no ConfigError");
    throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("a missing default file means flags only; a missing --config file is an error") {
    TempDir dir;
    auto command = cache({"--listen", "127.0.0.1:7411"}, dir.path() + "/absent.toml");
    CHECK(command.config_files.empty());
    CHECK(command.options.listen.port == 7411);

    auto e = config_error([&] {
        cache({"--config", dir.path() + "/absent.toml", "--listen", "127.0.0.1:1"});
    });
    CHECK(e.file() == dir.path() + "/absent.toml");
    CHECK(std::string(e.what()).find("no such file") != std::string::npos);
}

TEST_CASE(
    "the file sets defaults, drop-ins override it in lexical order, and flags override both") {
    TempDir dir;
    const std::string main = dir.path() + "/img-proxyd.toml";
    write_file(
        main,
        "cache = \"file.example:7411\"\nbuffers = 8\nlink_wait_seconds = 5\nlog_level = \"debug\"\n"
        "[[capture]]\ndir = \"/srv/a\"\n");
    write_file(main + ".d/20-second.toml",
               "buffers = 32\nlink_wait_seconds = 7\n[[capture]]\ndir = \"/srv/b\"\n");
    write_file(main + ".d/10-first.toml", "buffers = 24\nremote_data = \"socket\"\n");
    write_file(main + ".d/ignored.conf", "not toml at all [");

    auto command = proxy({"--link-wait", "9", "--capture", "/srv/c=job"}, main);
    REQUIRE(command.config_files ==
            std::vector<std::string>{main, main + ".d/10-first.toml", main + ".d/20-second.toml"});
    const auto& o = command.options;
    CHECK(o.cache.host == "file.example");
    CHECK(o.buffer_count == 32);      // 20-second.toml is applied after 10-first.toml
    CHECK(o.link_wait_seconds == 9);  // the flag wins
    CHECK(o.remote_reads_on_socket);
    CHECK(o.log_level == spdlog::level::debug);
    REQUIRE(o.endpoints.size() == 3);  // endpoints add up: file, drop-in, flag
    CHECK(o.endpoints[0].dir == "/srv/a");
    CHECK(o.endpoints[0].snapshot_id == "a");
    CHECK(o.endpoints[1].dir == "/srv/b");
    CHECK(o.endpoints[2].snapshot_id == "job");

    // --config names the file the same way, drop-ins included; the default is then not read.
    auto explicit_file =
        proxy({"--config", main, "--cache", "flag.example:1"}, "/nonexistent/p.toml");
    CHECK(explicit_file.options.cache.host == "flag.example");
    CHECK(explicit_file.options.buffer_count == 32);
}

TEST_CASE("drop-ins of a missing default file still apply") {
    TempDir dir;
    const std::string main = dir.path() + "/img-cached.toml";
    write_file(main + ".d/listen.toml", "listen = \"[::1]:7411\"\n");
    auto command = cache({}, main);
    CHECK(command.options.listen.host == "::1");
    CHECK(command.config_files == std::vector<std::string>{main + ".d/listen.toml"});
}

TEST_CASE("the same endpoint from the file and a flag is opened once") {
    TempDir dir;
    const std::string main = dir.path() + "/c.toml";
    write_file(main, "listen = \"127.0.0.1:0\"\n[[serve]]\ndir = \"/srv/j\"\n");
    auto command = cache({"--config", main, "--serve", "/srv/j"});
    CHECK(command.options.endpoints.size() == 1);
}

TEST_CASE("an unknown key is an error at its line, suggesting the nearest valid key") {
    TempDir dir;
    const std::string main = dir.path() + "/img-cached.toml";
    write_file(main, "# comment\ncontrol = \"/tmp/c.sock\"\nlisen = \"0.0.0.0:7411\"\n");
    auto e = config_error([&] { cache({"--config", main}); });
    CHECK(std::string(e.what()) == main + ":3: unknown key 'lisen' (did you mean 'listen'?)");
    CHECK(e.line() == 3);

    write_file(main, "listen = \"0.0.0.0:7411\"\n[[serve]]\ndir = \"/a\"\nsnapshoot = \"x\"\n");
    e = config_error([&] { cache({"--config", main}); });
    CHECK(std::string(e.what()) ==
          main + ":4: unknown key 'serve.snapshoot' (did you mean 'serve.snapshot'?)");

    // Nothing near: no suggestion.
    write_file(main, "listen = \"0.0.0.0:7411\"\ncompletely_different = 1\n");
    e = config_error([&] { cache({"--config", main}); });
    CHECK(std::string(e.what()) == main + ":2: unknown key 'completely_different'");
}

TEST_CASE("wrong types and bad values name the file, line and key") {
    TempDir dir;
    const std::string main = dir.path() + "/img-proxyd.toml";
    const std::string dropin = main + ".d/50-tuning.toml";
    write_file(main, "cache = \"dest:7411\"\n");

    write_file(dropin, "\n\nbuffers = \"16\"\n");
    auto e = config_error([&] { proxy({"--config", main}); });
    CHECK(e.file() == dropin);
    CHECK(e.line() == 3);
    CHECK(e.key() == "buffers");
    CHECK(std::string(e.what()) == dropin + ":3: key 'buffers': expected an integer, got a string");

    write_file(dropin, "link_wait_seconds = -1\n");
    e = config_error([&] { proxy({"--config", main}); });
    CHECK(std::string(e.what()) ==
          dropin + ":1: key 'link_wait_seconds': -1 is not a number from 0 to 86400");

    write_file(dropin, "remote_data = \"carrier-pigeon\"\n");
    e = config_error([&] { proxy({"--config", main}); });
    CHECK(e.key() == "remote_data");

    write_file(dropin, "cache = \"no-port\"\n");
    e = config_error([&] { proxy({"--config", main}); });
    CHECK(e.key() == "cache");

    write_file(dropin, "capture = \"/srv/a\"\n");
    e = config_error([&] { proxy({"--config", main}); });
    CHECK(e.key() == "capture");

    write_file(dropin, "[[capture]]\nsnapshot = \"x\"\n");
    e = config_error([&] { proxy({"--config", main}); });
    CHECK(e.line() == 1);
    CHECK(e.key() == "capture.dir");

    write_file(dropin, "buffers = [\n");
    e = config_error([&] { proxy({"--config", main}); });
    CHECK(e.file() == dropin);
    CHECK(e.line() >= 1);
    CHECK(std::string(e.what()).find('\n') == std::string::npos);
}

TEST_CASE("flags are checked too, and the required address may come from either place") {
    TempDir dir;
    CHECK_THROWS_AS(proxy({"--buffers", "1", "--cache", "h:1"}), UsageError);
    CHECK_THROWS_AS(cache({}), UsageError);  // no listen anywhere
    CHECK_THROWS_AS(proxy({"--config"}), UsageError);
    CHECK(proxy({"--help"}).mode == proxyd::ProxyMode::help);  // no address needed for --help
    CHECK(cache({"--listen", "127.0.0.1:1", "--check-config"}).mode ==
          cached::CacheMode::check_config);
}

TEST_CASE("print-config output reads back to the same options") {
    TempDir dir;
    const std::string main = dir.path() + "/p.toml";
    write_file(main,
               "cache = \"[fd00::1]:7411\"\nchain_memory_mib = 512\n[[capture]]\ndir = \"/srv/odd "
               "\\\"dir\\\"\"\n");
    auto first = proxy({"--config", main, "--log-level", "warning", "--remote-data", "socket",
                        "--capture", "/x=y"});
    const std::string printed = proxyd::format_proxy_config(first.options);
    write_file(dir.path() + "/printed.toml", printed);
    auto second = proxy({"--config", dir.path() + "/printed.toml"});
    CHECK(proxyd::format_proxy_config(second.options) == printed);
    const auto& o = second.options;
    CHECK(o.cache.host == "fd00::1");
    CHECK(o.chain_memory_bytes == 512ull << 20);
    CHECK(o.log_level == spdlog::level::warn);
    CHECK(o.remote_reads_on_socket);
    REQUIRE(o.endpoints.size() == 2);
    CHECK(o.endpoints[0].dir == "/srv/odd \"dir\"");
    CHECK(o.endpoints[1].snapshot_id == "y");

    const std::string cmain = dir.path() + "/c.toml";
    write_file(cmain,
               "listen = \"0.0.0.0:7411\"\nremote_wait_seconds = 60\n[[serve]]\ndir = "
               "\"/srv/j\"\nsnapshot = \"k\"\n");
    auto c1 = cache({"--config", cmain, "--control", "/tmp/x.sock"});
    const std::string cprinted = cached::format_cache_config(c1.options);
    write_file(dir.path() + "/cprinted.toml", cprinted);
    auto c2 = cache({"--config", dir.path() + "/cprinted.toml"});
    CHECK(cached::format_cache_config(c2.options) == cprinted);
    CHECK(c2.options.control == "/tmp/x.sock");
    CHECK(c2.options.remote_wait_seconds == 60);
}

TEST_CASE("edit distance and the nearest key") {
    CHECK(config::edit_distance("", "") == 0);
    CHECK(config::edit_distance("lisen", "listen") == 1);
    CHECK(config::edit_distance("kitten", "sitting") == 3);
    CHECK(config::nearest_key("bufers", {"cache", "buffers"}) == "buffers");
    CHECK(config::nearest_key("link_wait", {"link_wait_seconds", "cache"}) == std::nullopt);
    CHECK_FALSE(config::nearest_key("zzz", {"cache", "control"}));
}

TEST_CASE("quoted strings are valid TOML basic strings") {
    CHECK(config::quoted("plain") == "\"plain\"");
    CHECK(config::quoted("a\"b\\c\n") == "\"a\\\"b\\\\c\\n\"");
    CHECK(config::quoted(std::string("\x01", 1)) == "\"\\u0001\"");
}

TEST_CASE("a reload knows which endpoints came from the files and which from flags") {
    TempDir dir;
    const std::string main = dir.path() + "/c.toml";
    write_file(
        main,
        "listen = \"127.0.0.1:7411\"\nshutdown_grace_seconds = 5\n[[serve]]\ndir = \"/srv/a\"\n"
        "[[serve]]\ndir = \"/srv/b\"\n");
    auto c = cache(
        {"--config", main, "--serve", "/srv/b", "--serve", "/srv/c", "--shutdown-grace", "7"});
    REQUIRE(c.file_endpoints.size() == 2);
    CHECK(c.file_endpoints[0].dir == "/srv/a");
    CHECK(c.file_endpoints[1].dir == "/srv/b");
    REQUIRE(c.flag_endpoints.size() == 2);
    CHECK(c.flag_endpoints[0].dir == "/srv/b");
    CHECK(c.flag_endpoints[1].dir == "/srv/c");
    CHECK(c.options.endpoints.size() == 3);        // /srv/b once
    CHECK(c.options.shutdown_grace_seconds == 7);  // the flag wins over the file
    CHECK(cache({"--config", main}).options.shutdown_grace_seconds == 5);
    CHECK(proxy({"--cache", "h:1"}).options.shutdown_grace_seconds ==
          30);  // the documented default
    CHECK_THROWS_AS(proxy({"--cache", "h:1", "--shutdown-grace", "3601"}), UsageError);
}

TEST_CASE("allow_uids and allow_gids are integer arrays; --allow-uid/--allow-gid add to them") {
    TempDir dir;
    const std::string main = dir.path() + "/img-cached.toml";
    write_file(main, "listen = \"127.0.0.1:7411\"\nallow_uids = [1000, 1001]\nallow_gids = [27]\n");
    auto command = cache({"--config", main, "--allow-uid", "5", "--allow-gid", "4"});
    CHECK(command.options.allow_uids == std::vector<unsigned>{1000, 1001, 5});
    CHECK(command.options.allow_gids == std::vector<unsigned>{27, 4});
    CHECK(proxy({"--cache", "d:1"}).options.allow_uids.empty());

    write_file(main, "listen = \"127.0.0.1:7411\"\n\nallow_uids = [1000, \"backup\"]\n");
    auto e = config_error([&] { cache({"--config", main}); });
    CHECK(e.line() == 3);
    CHECK(e.key() == "allow_uids");
    CHECK(std::string(e.what()).find("expected an array of integers, found a string") !=
          std::string::npos);
    write_file(main, "listen = \"127.0.0.1:7411\"\nallow_gids = 27\n");
    e = config_error([&] { cache({"--config", main}); });
    CHECK(std::string(e.what()).find("expected an array of integers, got an integer") !=
          std::string::npos);
    write_file(main, "listen = \"127.0.0.1:7411\"\nallow_uids = [-1]\n");
    e = config_error([&] { cache({"--config", main}); });
    CHECK(std::string(e.what()).find("-1 is not a number from 0 to 4294967294") !=
          std::string::npos);
    CHECK_THROWS_AS(proxy({"--cache", "d:1", "--allow-uid", "root"}), UsageError);
}

TEST_CASE("the link needs TLS or plain_tcp said explicitly; both, or half of TLS, is refused") {
    const std::vector<std::string> tls = {"--tls-ca",     "/etc/t/ca.pem", "--tls-cert",
                                          "/etc/t/c.pem", "--tls-key",     "/etc/t/c.key"};
    auto neither = usage_error([] { proxy_link_as_given({"--cache", "h:1"}); });
    CHECK(neither.find("tls_ca, tls_cert and tls_key") != std::string::npos);
    CHECK(neither.find("plain_tcp = true (--plain-tcp)") != std::string::npos);
    CHECK(usage_error([] {
              cache_link_as_given({"--listen", "127.0.0.1:1"});
          }).find("plain_tcp") != std::string::npos);

    std::vector<std::string> both = {"--cache", "h:1", "--plain-tcp"};
    both.insert(both.end(), tls.begin(), tls.end());
    CHECK(usage_error([&] { proxy_link_as_given(both); }).find("choose one") != std::string::npos);
    CHECK(usage_error([] {
              proxy_link_as_given({"--cache", "h:1", "--tls-ca", "/ca.pem"});
          }).find("missing: tls_cert, tls_key") != std::string::npos);

    // img-cached with TLS also needs the identities allowed to push.
    std::vector<std::string> cache_tls = {"--listen", "127.0.0.1:1"};
    cache_tls.insert(cache_tls.end(), tls.begin(), tls.end());
    CHECK(usage_error([&] { cache_link_as_given(cache_tls); }).find("tls_allowed_clients") !=
          std::string::npos);
    cache_tls.insert(cache_tls.end(), {"--tls-allow-client", "src1.example"});
    auto command = cache_link_as_given(cache_tls);
    CHECK(command.options.tls.allowed_clients == std::vector<std::string>{"src1.example"});
    CHECK(command.options.tls.min_version == "1.3");  // the documented default

    // The files are not read here: they may not exist yet (checked at start and on reload).
    std::vector<std::string> proxy_tls = {"--cache", "dest.example:1", "--tls-min-version", "1.2"};
    proxy_tls.insert(proxy_tls.end(), tls.begin(), tls.end());
    auto p = proxy_link_as_given(proxy_tls);
    CHECK(p.options.tls.min_version == "1.2");
    CHECK(p.options.tls.server_name.empty());  // the host of `cache` at start
    CHECK_THROWS_AS(proxy({"--cache", "h:1", "--tls-min-version", "1.1"}), UsageError);
}

TEST_CASE(
    "TLS keys in a file: tls_allowed_clients is a string array, flags add to it, print-config "
    "reads back") {
    TempDir dir;
    const std::string main = dir.path() + "/c.toml";
    write_file(main,
               "listen = \"127.0.0.1:7411\"\ntls_ca = \"/t/ca.pem\"\ntls_cert = \"/t/c.pem\"\n"
               "tls_key = \"/t/c.key\"\ntls_crl = \"/t/crl.pem\"\ntls_allowed_clients = "
               "[\"a.example\"]\n");
    auto command = cache_link_as_given({"--config", main, "--tls-allow-client", "b.example"});
    CHECK(command.options.tls.allowed_clients ==
          std::vector<std::string>{"a.example", "b.example"});
    CHECK(command.options.tls.crl == "/t/crl.pem");
    const std::string printed = dir.path() + "/printed.toml";
    write_file(printed, cached::format_cache_config(command.options));
    CHECK(cache_link_as_given({"--config", printed}).options.tls.allowed_clients ==
          command.options.tls.allowed_clients);

    write_file(
        main,
        "listen = \"127.0.0.1:7411\"\nplain_tcp = true\ntls_allowed_clients = \"a.example\"\n");
    auto wrong = config_error([&] { cache_link_as_given({"--config", main}); });
    CHECK(wrong.key() == "tls_allowed_clients");
    CHECK(wrong.line() == 3);
}

TEST_CASE(
    "state_dir, spool_dir and memory_budget_mib: keys, flags that win, limits, print-config") {
    TempDir dir;
    const std::string main = dir.path() + "/c.toml";
    CHECK(cache({"--listen", "127.0.0.1:7411"}).options.state_dir.empty());
    CHECK(cache({"--listen", "127.0.0.1:7411"}).options.memory_budget_mib == 0);
    write_file(main,
               "listen = \"127.0.0.1:7411\"\nstate_dir = \"/var/lib/img-cached/state\"\n"
               "spool_dir = \"/var/tmp/spool\"\nmemory_budget_mib = 2048\n");
    auto c = cache({"--config", main, "--memory-budget", "64"});
    CHECK(c.options.state_dir == "/var/lib/img-cached/state");
    CHECK(c.options.spool_dir == "/var/tmp/spool");
    CHECK(c.options.memory_budget_mib == 64);
    const std::string printed = cached::format_cache_config(c.options);
    CHECK_THAT(printed, Catch::Contains("memory_budget_mib = 64"));
    write_file(dir.path() + "/printed.toml", printed);
    CHECK(cached::format_cache_config(cache({"--config", dir.path() + "/printed.toml"}).options) ==
          printed);

    write_file(main, "listen = \"127.0.0.1:7411\"\nmemory_budget_mib = -1\n");
    auto e = config_error([&] { cache({"--config", main}); });
    CHECK(e.key() == "memory_budget_mib");
    CHECK_THROWS_AS(cache({"--listen", "127.0.0.1:7411", "--memory-budget", "99999999999"}),
                    imgx::UsageError);
}

TEST_CASE(
    "prefault_mib: key, flag that wins, print-config, limits, no more than the memory budget") {
    TempDir dir;
    const std::string main = dir.path() + "/c.toml";
    CHECK(cache({"--listen", "127.0.0.1:7411"}).options.prefault_mib == 0);
    write_file(main, "listen = \"127.0.0.1:7411\"\nprefault_mib = 1100\n");
    CHECK(cache({"--config", main}).options.prefault_mib == 1100);
    auto c = cache({"--config", main, "--prefault", "512", "--memory-budget", "512"});
    CHECK(c.options.prefault_mib == 512);
    const std::string printed = cached::format_cache_config(c.options);
    CHECK_THAT(printed, Catch::Contains("prefault_mib = 512"));
    write_file(dir.path() + "/printed.toml", printed);
    CHECK(cache({"--config", dir.path() + "/printed.toml"}).options.prefault_mib == 512);

    CHECK_THAT(usage_error([&] {
                   cache({"--config", main, "--memory-budget", "1024"});
               }),
               Catch::Contains("prefault_mib (1100) is larger than memory_budget_mib (1024)"));
    write_file(main, "listen = \"127.0.0.1:7411\"\nprefault_mib = -5\n");
    CHECK(config_error([&] { cache({"--config", main}); }).key() == "prefault_mib");
    CHECK_THROWS_AS(cache({"--listen", "127.0.0.1:7411", "--prefault", "99999999999"}),
                    imgx::UsageError);
}

TEST_CASE("link_streams: key, flag that wins, default 1, range 1-16") {
    TempDir dir;
    const std::string pmain = dir.path() + "/img-proxyd.toml";
    write_file(pmain, "cache = \"h:1\"\nlink_streams = 4\n");
    CHECK(proxy({"--config", pmain}).options.link_streams == 4);
    auto p = proxy({"--config", pmain, "--link-streams", "2"});
    CHECK(p.options.link_streams == 2);
    CHECK(proxyd::format_proxy_config(p.options).find("link_streams = 2\n") != std::string::npos);
    CHECK(proxy({"--cache", "h:1"}).options.link_streams == 1);
    CHECK(proxy({"--cache", "h:1", "--link-streams", "16"}).options.link_streams == 16);
    CHECK_THROWS_AS(proxy({"--cache", "h:1", "--link-streams", "0"}), UsageError);
    CHECK_THROWS_AS(proxy({"--cache", "h:1", "--link-streams", "17"}), UsageError);
    write_file(pmain, "cache = \"h:1\"\nlink_streams = 17\n");
    CHECK(config_error([&] { proxy({"--config", pmain}); }).key() == "link_streams");
}

TEST_CASE("link resume budgets: keys, flags that win, documented defaults and limits") {
    TempDir dir;
    const std::string pmain = dir.path() + "/img-proxyd.toml";
    write_file(pmain, "cache = \"h:1\"\nlink_retry_seconds = 5\nlink_idle_timeout_seconds = 4\n");
    auto p = proxy({"--config", pmain, "--link-retry", "0"});
    CHECK(p.options.link_retry_seconds == 0);  // the flag wins; 0 fails at once
    CHECK(p.options.link_idle_timeout_seconds == 4);
    CHECK(proxyd::format_proxy_config(p.options).find("link_retry_seconds = 0\n") !=
          std::string::npos);
    CHECK(proxy({"--cache", "h:1"}).options.link_retry_seconds == 60);
    CHECK(proxy({"--cache", "h:1"}).options.link_idle_timeout_seconds == 15);
    CHECK_THROWS_AS(proxy({"--cache", "h:1", "--link-idle-timeout", "0"}), UsageError);
    CHECK_THROWS_AS(proxy({"--cache", "h:1", "--link-retry", "86401"}), UsageError);

    const std::string cmain = dir.path() + "/img-cached.toml";
    write_file(cmain, "listen = \"127.0.0.1:7411\"\nlink_resume_seconds = 9\n");
    CHECK(cache({"--config", cmain}).options.link_resume_seconds == 9);
    CHECK(cache({"--config", cmain, "--link-resume", "0"}).options.link_resume_seconds == 0);
    CHECK(cache({"--listen", "127.0.0.1:1"}).options.link_resume_seconds == 60);
    write_file(cmain, "listen = \"127.0.0.1:7411\"\nlink_resume_seconds = -1\n");
    CHECK(config_error([&] { cache({"--config", cmain}); }).key() == "link_resume_seconds");
}

TEST_CASE("the settings table drives --help: every key with a flag is listed, with its default") {
    const std::string help = daemon_usage(proxyd::proxy_command_spec());
    for (const auto& row : *proxyd::proxy_command_spec().table)
        if (!row.flag.empty()) CHECK(help.find("  " + row.flag + " ") != std::string::npos);
    CHECK(help.find("--buffers N           1 MiB chunks in flight") != std::string::npos);
    CHECK(help.find("(default 16)") != std::string::npos);
    CHECK(help.find("--tls-server-name NAME") != std::string::npos);
    const std::string cache_help = daemon_usage(cached::cache_command_spec());
    CHECK(cache_help.find("--tls-allow-client NAME") != std::string::npos);
    CHECK(cache_help.find("--prefault MIB") != std::string::npos);
}

TEST_CASE("a reload names the restart settings that changed and copies only the ones it applies") {
    const auto& table = *proxyd::proxy_command_spec().table;
    auto running = proxy({"--cache", "a:1", "--buffers", "16", "--link-wait", "30"}).options;
    const auto next =
        proxy({"--cache", "b:1", "--buffers", "32", "--link-wait", "5", "--log-level", "debug"})
            .options;
    const auto changed = config::restart_changes(table, running, next);
    REQUIRE(changed.size() == 2);
    CHECK(changed[0].key == "cache");
    CHECK(changed[0].running == "\"a:1\"");
    CHECK(changed[0].configured == "\"b:1\"");
    CHECK(changed[1].key == "buffers");
    config::copy_reloaded(table, running, next);
    CHECK(running.cache.host == "a");  // restart settings keep their running values
    CHECK(running.buffer_count == 16);
    CHECK(running.link_wait_seconds == 5);
    CHECK(running.log_level == spdlog::level::debug);
    CHECK(config::reloaded_numbers(table, next).find("link_wait_seconds = 5") == 0);
}
