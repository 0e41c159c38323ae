// Failure answers of img-remote: error 5 (never 2) once a snapshot cannot complete, bounded waits.
#include <catch2/catch.hpp>

#include "remote/cache_restart_rig.hpp"
#include "remote/remote_pair.hpp"
#include "support/content.hpp"
#include "support/process.hpp"
#include "support/test_status.hpp"

#include <iostream>
#include <thread>

using namespace imgtest;
using namespace imgtest::remote;

namespace {

constexpr auto kTimeout = seconds(30);

PairOptions one_endpoint(std::vector<std::string> cache_args = {}, std::vector<std::string> proxy_args = {}) {
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

TEST_CASE("link lost before the finish: parked and later reads answer error 5, never error 2") {
    DaemonPair pair(one_endpoint());
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    const RemoteClient proxy(proxy_socket(pair, "job"), Generation::g3);
    push_and_pull(proxy, id);
    REQUIRE(write_image(proxy, "core-1.img", id, make_content(1, 4000), deadline_in(kTimeout)).status == IoStatus::ok);
    auto pages = proxy.open_write("pages-1.img", id);
    REQUIRE(write_all(pages.get(), make_content(2, 30'000), deadline_in(kTimeout)).status == IoStatus::ok);

    const RemoteClient cache(cache_socket(pair, "job"), Generation::g3);
    // Complete, still arriving, and never written: all parked until the dump ends.
    std::vector<std::pair<std::string, imgx::UniqueFd>> parked;
    for (const char* name : {"core-1.img", "pages-1.img", "memfd.img"}) parked.emplace_back(name, cache.read_request(name, id));
    CHECK(read_reply(parked.front().second.get(), deadline_in(milliseconds(500))).status == ReplyStatus::no_answer);

    pair.kill_proxy();

    for (auto& [name, connection] : parked) {
        INFO("parked read of " << name);
        CHECK(read_reply(connection.get(), deadline_in(kTimeout)).describe() == "error=5");
    }
    for (const char* name : {"core-1.img", "pages-1.img", "memfd.img", "inventory.img"}) {
        INFO("later read of " << name);
        CHECK(cache.open_read(name, id, deadline_in(kTimeout)).reply.describe() == "error=5");
    }
    CHECK(cache.pull(deadline_in(kTimeout)).reply.describe() == "connection closed without a reply");
}

TEST_CASE("--remote-wait 2: a read for a snapshot whose dump never finishes answers error 5 after about 2 s") {
    DaemonPair pair(one_endpoint({"--remote-wait", "2"}));
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    const RemoteClient proxy(proxy_socket(pair, "job"), Generation::g3);
    push_and_pull(proxy, id);
    REQUIRE(write_image(proxy, "core-1.img", id, "core", deadline_in(kTimeout)).status == IoStatus::ok);

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
    CHECK(cache.open_read("inventory.img", "/never/pushed", deadline_in(kTimeout)).reply.describe() == "error=5");
    CHECK(elapsed_ms(started) < 15'000);
    // The pull of an unfinished chain is closed without a reply, never given an error.
    CHECK(cache.pull(deadline_in(kTimeout)).reply.describe() == "connection closed without a reply");
}

TEST_CASE("a chain dropped on the proxy makes the cache answer error 5 and the proxy's parent reads error 5 or 2") {
    DaemonPair pair(one_endpoint());
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    const RemoteClient proxy(proxy_socket(pair, "job"), Generation::g3);
    push_and_pull(proxy, id);
    REQUIRE(write_image(proxy, "pages-1.img", id, make_content(3, 10'000), deadline_in(kTimeout)).status == IoStatus::ok);
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

TEST_CASE("a chain over --chain-memory fails: the cache answers error 5 instead of serving part of it") {
    DaemonPair pair(one_endpoint({}, {"--chain-memory", "1"}));
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    const RemoteClient proxy(proxy_socket(pair, "job"), Generation::g3);
    push_and_pull(proxy, id);
    // CRIU keeps writing; the proxy may stop draining the failed image or take it all.
    auto big = write_image(proxy, "pages-1.img", id, make_content(4, 3 << 20), deadline_in(seconds(10)));
    INFO("write of 3 MiB over a 1 MiB budget: " << to_string(big.status));
    (void)write_image(proxy, "inventory.img", id, "inv", deadline_in(seconds(10)));
    proxy.finish_dump();
    const RemoteClient cache(cache_socket(pair, "job"), Generation::g3);
    CHECK(cache.open_read("inventory.img", id, deadline_in(kTimeout)).reply.describe() == "error=5");
    CHECK(cache.pull(deadline_in(kTimeout)).reply.describe() == "connection closed without a reply");
}

TEST_CASE("after img-cached restarts, the next --remote dump reaches the new img-cached") {
    CacheRestartRig rig;
    const auto& proxy = rig.proxy;
    const auto& cache = rig.cache;
    auto dump = [&](const std::string& id) {
        push_and_pull(proxy, id);
        REQUIRE(write_image(proxy, "inventory.img", id, id, deadline_in(kTimeout)).status == IoStatus::ok);
        proxy.finish_dump();
    };
    dump("/srv/a");
    std::string got;
    CHECK(cache.fetch("inventory.img", "/srv/a", got, deadline_in(kTimeout)).describe() == "error=0");

    REQUIRE(rig.first_cache->stop(seconds(5)));
    auto second = rig.start_cache("2");
    std::this_thread::sleep_for(seconds(1));
    dump("/srv/b");
    CHECK(cache.fetch("inventory.img", "/srv/b", got, deadline_in(seconds(10))).describe() == "error=0");
    CHECK(got == "/srv/b");
}
