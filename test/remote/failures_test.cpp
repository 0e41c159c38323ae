// Failure answers of img-remote: error 5 (never 2) once a snapshot cannot complete, bounded waits.
#include <catch2/catch.hpp>
#include <iostream>
#include <thread>

#include "remote/cache_restart_rig.hpp"
#include "remote/remote_pair.hpp"
#include "support/content.hpp"
#include "support/log_wait.hpp"
#include "support/process.hpp"
#include "support/relayed_pair.hpp"
#include "support/test_status.hpp"

using namespace imgtest;
using namespace imgtest::remote;

namespace {

constexpr auto kTimeout = seconds(30);

PairOptions one_endpoint(std::vector<std::string> cache_args = {},
                         std::vector<std::string> proxy_args = {}) {
    PairOptions options;
    options.snapshots = {"job"};
    options.cache_args = std::move(cache_args);
    options.proxy_args = std::move(proxy_args);
    return options;
}

void push_and_pull(const RemoteClient& proxy, const std::string& id) {
    proxy.push(id);
    auto pulled = proxy.pull(deadline_in(kTimeout));
    REQUIRE(pulled.reply.describe() == "error=0");
    REQUIRE(pulled.ids == std::vector<std::string>{id});
}

long long elapsed_ms(Clock::time_point since) {
    return std::chrono::duration_cast<milliseconds>(Clock::now() - since).count();
}

}  // namespace

TEST_CASE(
    "fault: img-proxyd killed before the --remote finish -> parked and later reads answer error 5, "
    "never "
    "error 2",
    "[fault]") {
    // img-cached waits --link-resume seconds for img-proxyd to resume the link, then fails the
    // dump.
    DaemonPair pair(one_endpoint({"--link-resume", "1"}));
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    const RemoteClient proxy(proxy_socket(pair, "job"), Generation::g3);
    push_and_pull(proxy, id);
    REQUIRE(
        write_image(proxy, "core-1.img", id, make_content(1, 4000), deadline_in(kTimeout)).status ==
        IoStatus::ok);
    auto pages = proxy.open_write("pages-1.img", id);
    REQUIRE(write_all(pages.get(), make_content(2, 30'000), deadline_in(kTimeout)).status ==
            IoStatus::ok);

    const RemoteClient cache(cache_socket(pair, "job"), Generation::g3);
    // Complete, still arriving, and never written: all parked until the dump ends.
    std::vector<std::pair<std::string, imgx::UniqueFd>> parked;
    for (const char* name : {"core-1.img", "pages-1.img", "memfd.img"})
        parked.emplace_back(name, cache.read_request(name, id));
    CHECK(read_reply(parked.front().second.get(), deadline_in(milliseconds(500))).status ==
          ReplyStatus::no_answer);

    pair.kill_proxy();

    for (auto& [name, connection] : parked) {
        INFO("parked read of " << name);
        CHECK(read_reply(connection.get(), deadline_in(kTimeout)).describe() == "error=5");
    }
    for (const char* name : {"core-1.img", "pages-1.img", "memfd.img", "inventory.img"}) {
        INFO("later read of " << name);
        CHECK(cache.open_read(name, id, deadline_in(kTimeout)).reply.describe() == "error=5");
    }
    CHECK(cache.pull(deadline_in(kTimeout)).reply.describe() ==
          "connection closed without a reply");
}

TEST_CASE("fault: a --remote dump never finishes -> reads answer error 5 after --remote-wait (2 s)",
          "[fault]") {
    DaemonPair pair(one_endpoint({"--remote-wait", "2"}));
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    const RemoteClient proxy(proxy_socket(pair, "job"), Generation::g3);
    push_and_pull(proxy, id);
    REQUIRE(write_image(proxy, "core-1.img", id, "core", deadline_in(kTimeout)).status ==
            IoStatus::ok);

    const RemoteClient cache(cache_socket(pair, "job"), Generation::g3);
    for (const char* name : {"core-1.img", "memfd.img"}) {
        INFO(name);
        const auto started = Clock::now();
        auto answer = cache.open_read(name, id, deadline_in(kTimeout));
        const auto took = elapsed_ms(started);
        CHECK(answer.reply.describe() == "error=5");
        CHECK(took >= 1500);
        CHECK(took < 15'000);
    }
    // A snapshot nobody ever pushed: the same limit.
    const auto started = Clock::now();
    CHECK(
        cache.open_read("inventory.img", "/never/pushed", deadline_in(kTimeout)).reply.describe() ==
        "error=5");
    CHECK(elapsed_ms(started) < 15'000);
    // The pull of an unfinished chain is closed without a reply, never given an error.
    CHECK(cache.pull(deadline_in(kTimeout)).reply.describe() ==
          "connection closed without a reply");
}

TEST_CASE(
    "fault: a --remote chain dropped on img-proxyd mid-dump -> the cache answers error 5; parent "
    "reads on the "
    "proxy answer 5 or 2",
    "[fault]") {
    DaemonPair pair(one_endpoint());
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    const RemoteClient proxy(proxy_socket(pair, "job"), Generation::g3);
    push_and_pull(proxy, id);
    REQUIRE(write_image(proxy, "pages-1.img", id, make_content(3, 10'000), deadline_in(kTimeout))
                .status == IoStatus::ok);
    const RemoteClient cache(cache_socket(pair, "job"), Generation::g3);
    auto parked = cache.read_request("pages-1.img", id);
    auto dropped = pair.ctl(Side::proxy, {"drop", id});
    INFO(dropped.out << dropped.err);
    REQUIRE(dropped.exit_status == 0);
    CHECK(read_reply(parked.get(), deadline_in(kTimeout)).describe() == "error=5");
    CHECK(cache.open_read("pages-1.img", id, deadline_in(kTimeout)).reply.describe() == "error=5");
    // The proxy forgot the chain: its images are gone, never served half.
    auto parent = proxy.open_read("pages-1.img", id, deadline_in(kTimeout)).reply.describe();
    CHECK((parent == "error=2" || parent == "error=5"));
}

TEST_CASE(
    "fault: a --remote chain over --chain-memory -> the cache answers error 5, never part of the "
    "chain",
    "[fault]") {
    DaemonPair pair(one_endpoint({}, {"--chain-memory", "1"}));
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    const RemoteClient proxy(proxy_socket(pair, "job"), Generation::g3);
    push_and_pull(proxy, id);
    // CRIU keeps writing; the proxy may stop draining the failed image or take it all.
    auto big =
        write_image(proxy, "pages-1.img", id, make_content(4, 3 << 20), deadline_in(seconds(10)));
    INFO("write of 3 MiB over a 1 MiB budget: " << to_string(big.status));
    (void)write_image(proxy, "inventory.img", id, "inv", deadline_in(seconds(10)));
    proxy.finish_dump();
    const RemoteClient cache(cache_socket(pair, "job"), Generation::g3);
    CHECK(cache.open_read("inventory.img", id, deadline_in(kTimeout)).reply.describe() ==
          "error=5");
    CHECK(cache.pull(deadline_in(kTimeout)).reply.describe() ==
          "connection closed without a reply");
}

TEST_CASE(
    "fault: img-cached restarted between --remote dumps -> the next dump reaches the new "
    "img-cached",
    "[fault]") {
    CacheRestartRig rig;
    const auto& proxy = rig.proxy;
    const auto& cache = rig.cache;
    auto dump = [&](const std::string& id) {
        push_and_pull(proxy, id);
        REQUIRE(write_image(proxy, "inventory.img", id, id, deadline_in(kTimeout)).status ==
                IoStatus::ok);
        proxy.finish_dump();
    };
    dump("/srv/a");
    std::string got;
    CHECK(cache.fetch("inventory.img", "/srv/a", got, deadline_in(kTimeout)).describe() ==
          "error=0");

    const auto proxy_log = rig.dir.path() + "/img-proxyd.log";
    const auto mark = log_size(proxy_log);
    REQUIRE(rig.first_cache->stop(seconds(5)));
    auto second = rig.start_cache("2");
    // img-proxyd noticed the loss and has its link to the new img-cached up again.
    REQUIRE(wait_for_log_line(proxy_log, std::regex("img-cached at .* is .*link version"),
                              deadline_in(kTimeout), mark));
    dump("/srv/b");
    CHECK(cache.fetch("inventory.img", "/srv/b", got, deadline_in(seconds(10))).describe() ==
          "error=0");
    CHECK(got == "/srv/b");
}

TEST_CASE(
    "fault: an img-remote dump vanishes mid-image without its finish -> its reads answer error 5 "
    "after "
    "--remote-wait; a concurrent dump of another snapshot completes",
    "[fault]") {
    PairOptions options = one_endpoint({"--remote-wait", "2"});
    options.snapshots.push_back("other");
    DaemonPair pair(options);
    await_remote_sockets(pair, {"job", "other"});
    const std::string lost_id = pair.dir().path() + "/img";
    const std::string other_id = pair.dir().path() + "/other-img";
    const RemoteClient lost(proxy_socket(pair, "job"), Generation::g3);
    const RemoteClient other(proxy_socket(pair, "other"), Generation::g3);
    push_and_pull(lost, lost_id);
    push_and_pull(other, other_id);
    REQUIRE(write_image(lost, "core-1.img", lost_id, make_content(5, 4000), deadline_in(kTimeout))
                .status == IoStatus::ok);
    const auto other_pages = make_content(6, 300'000);
    {
        auto pages = lost.open_write("pages-1.img", lost_id);
        auto other_write = other.open_write("pages-1.img", other_id);
        REQUIRE(write_all(pages.get(), make_content(7, 50'000), deadline_in(kTimeout)).status ==
                IoStatus::ok);
        REQUIRE(write_all(other_write.get(), other_pages, deadline_in(kTimeout)).status ==
                IoStatus::ok);
    }  // both images end; only `other` sends its finish: the first CRIU is gone
    other.finish_dump();

    const RemoteClient cache_other(cache_socket(pair, "other"), Generation::g3);
    std::string got;
    CHECK(cache_other.fetch("pages-1.img", other_id, got, deadline_in(kTimeout)).describe() ==
          "error=0");
    CHECK(got == other_pages);
    const RemoteClient cache(cache_socket(pair, "job"), Generation::g3);
    for (const char* name : {"core-1.img", "pages-1.img", "inventory.img"}) {
        INFO("read of " << name << " from the vanished dump");
        CHECK(cache.open_read(name, lost_id, deadline_in(kTimeout)).reply.describe() == "error=5");
    }
}

TEST_CASE(
    "fault: a --remote write's implicit push dropped with img-ctl while the link is down -> "
    "img-proxyd survives the link coming back and serves the next dump",
    "[fault]") {
    RelayedPair relayed([](FaultRelay&) {}, one_endpoint());
    auto& pair = *relayed.pair;
    auto& relay = *relayed.relay;
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    const RemoteClient proxy(proxy_socket(pair, "job"), Generation::g3);
    const RemoteClient cache(cache_socket(pair, "job"), Generation::g3);
    std::string got;
    // A first dump of the id, so that img-ctl knows it.
    push_and_pull(proxy, id);
    REQUIRE(write_image(proxy, "inventory.img", id, "first", deadline_in(kTimeout)).status ==
            IoStatus::ok);
    proxy.finish_dump();
    REQUIRE(cache.fetch("inventory.img", id, got, deadline_in(kTimeout)).describe() == "error=0");

    // The link goes down and stays down until the test lets it come back.
    const auto proxy_log = pair.log_path(Side::proxy);
    auto mark = log_size(proxy_log);
    relay.refuse_connections_from(relay.connections() + 1);
    relay.cut_all_now();
    REQUIRE(wait_for_log_line(proxy_log, std::regex("link to img-cached at .* lost"),
                              deadline_in(kTimeout), mark));
    // CRIU writes again without pushing first: img-proxyd pushes the id itself and waits for the
    // link to announce it; the operator drops the id meanwhile.
    auto write = proxy.open_write("core-1.img", id);
    REQUIRE(wait_for_log_line(proxy_log, std::regex("write for snapshot '.*' without a push first"),
                              deadline_in(kTimeout), mark));
    auto dropped = pair.ctl(Side::proxy, {"drop", id});
    INFO(dropped.out << dropped.err);
    REQUIRE(dropped.exit_status == 0);
    mark = log_size(proxy_log);
    relay.refuse_connections_from(0);
    REQUIRE(wait_for_log_line(proxy_log, std::regex("link to img-cached at .* is up"),
                              deadline_in(kTimeout), mark));
    (void)write_all(write.get(), "core", deadline_in(kTimeout));
    write.reset();

    const std::string next_id = pair.dir().path() + "/next";
    push_and_pull(proxy, next_id);
    REQUIRE(write_image(proxy, "inventory.img", next_id, "next", deadline_in(kTimeout)).status ==
            IoStatus::ok);
    proxy.finish_dump();
    CHECK(cache.fetch("inventory.img", next_id, got, deadline_in(kTimeout)).describe() ==
          "error=0");
    CHECK(got == "next");
    CHECK(pair.running(Side::proxy));
}

TEST_CASE(
    "fault: a --remote read or chain list no dump begins ends after serve_wait_seconds (1 s), not "
    "after --remote-wait: error 5 to a read, a list closed empty; logged with the id or chain",
    "[fault]") {
    DaemonPair pair(one_endpoint({"--serve-wait", "1"}));  // --remote-wait stays 600 s
    await_remote_sockets(pair, {"job"});
    const auto mark = log_size(pair.log_path(Side::cache));
    const RemoteClient cache(cache_socket(pair, "job"), Generation::g3);
    const auto started = Clock::now();
    std::regex logged;
    SECTION("a read") {
        CHECK(cache.open_read("inventory.img", "/never/pushed", deadline_in(kTimeout))
                  .reply.describe() == "error=5");
        logged = std::regex(R"(read of inventory.img in snapshot '/never/pushed' by CRIU )"
                            R"(\(pid \d+ uid \d+\): no dump of snapshot '/never/pushed' )"
                            R"(began within 1 s \(serve_wait_seconds\))");
    }
    SECTION("a chain list") {
        const auto pulled = cache.pull(deadline_in(kTimeout));
        CHECK(pulled.ids.empty());
        CHECK(pulled.reply.describe() == "connection closed without a reply");
        logged = std::regex(R"(no dump of chain '[^']+' began within 1 s )"
                            R"(\(serve_wait_seconds\); closing without a list)");
    }
    CHECK(elapsed_ms(started) >= 900);
    CHECK(elapsed_ms(started) < 9'000);  // the client's own receive timeout is 10 s
    CHECK(wait_for_log_line(pair.log_path(Side::cache), logged, deadline_in(kTimeout), mark));
    CHECK(pair.running(Side::cache));
}
