// One test per bug of CRIU's own image-proxy/image-cache (criu-protocols.md 3.12), named after it:
// none of them may be reproduced by img-proxyd and img-cached.
#include <atomic>
#include <catch2/catch.hpp>
#include <iostream>
#include <thread>

#include "remote/cache_restart_rig.hpp"
#include "remote/remote_pair.hpp"
#include "support/content.hpp"
#include "support/daemon_waits.hpp"
#include "support/process.hpp"
#include "support/test_status.hpp"

using namespace imgtest;
using namespace imgtest::remote;

namespace {

constexpr auto kTimeout = seconds(30);
// deliberate: how long a parked request is watched for an answer that must not come (a
// bounded look, not an ordering).
constexpr auto kParkedCheck = milliseconds(500);

// True once img-proxyd has read the first frame of `count` img-remote connections without a
// snapshot id (a push header, a pull) since `mark`: its debug line names only the connection.
bool wait_for_connection_read(const DaemonPair& pair, std::size_t mark, std::size_t count) {
    static const std::regex kAnonymous(R"(img-remote connection from CRIU \(.*\) in \S+$)");
    return wait_for_log_line(pair, Side::proxy, kAnonymous, deadline_in(seconds(20)), mark, count)
        .has_value();
}

PairOptions one_endpoint(std::vector<std::string> cache_args = {}) {
    PairOptions options;
    options.snapshots = {"job"};
    options.cache_args = std::move(cache_args);
    return options;
}

struct Image {
    std::string name;
    std::string content;
};

// push, pull (own id listed), every image written whole, finish.
void dump_images(const RemoteClient& proxy, const std::string& id, const std::vector<Image>& images,
                 bool finish = true) {
    proxy.push(id);
    auto pulled = proxy.pull(deadline_in(kTimeout));
    REQUIRE(pulled.reply.describe() == "error=0");
    REQUIRE(std::find(pulled.ids.begin(), pulled.ids.end(), id) != pulled.ids.end());
    for (const auto& image : images) {
        INFO("writing " << image.name);
        REQUIRE(write_image(proxy, image.name, id, image.content, deadline_in(kTimeout)).status ==
                IoStatus::ok);
    }
    if (finish) proxy.finish_dump();
}

void expect_images(const RemoteClient& cache, const std::string& id,
                   const std::vector<Image>& images) {
    for (const auto& image : images) {
        INFO("reading " << image.name);
        std::string got;
        REQUIRE(cache.fetch(image.name, id, got, deadline_in(kTimeout)).describe() == "error=0");
        CHECK(got.size() == image.content.size());
        CHECK(got == image.content);
    }
}

}  // namespace

TEST_CASE(
    "bug: append inverted — a snapshot id pushed twice is not duplicated and a duplicate image "
    "write is "
    "last-complete-wins") {
    DaemonPair pair(one_endpoint());
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    const RemoteClient proxy(proxy_socket(pair, "job"), Generation::g3);
    proxy.push(id);
    proxy.push(id);
    auto pulled = proxy.pull(deadline_in(kTimeout));
    CHECK(pulled.ids == std::vector<std::string>{id});
    // The same image written twice in one dump (CRIU's mount double-dump): a longer copy, then a
    // shorter one. The second must not land in the first's buffers.
    const auto first = make_content(1, 100'000);
    const auto second = make_content(2, 10);
    REQUIRE(write_image(proxy, "mountpoints-1.img", id, first, deadline_in(kTimeout)).status ==
            IoStatus::ok);
    REQUIRE(write_image(proxy, "mountpoints-1.img", id, second, deadline_in(kTimeout)).status ==
            IoStatus::ok);
    REQUIRE(write_image(proxy, "inventory.img", id, "inv", deadline_in(kTimeout)).status ==
            IoStatus::ok);
    proxy.finish_dump();

    const RemoteClient cache(cache_socket(pair, "job"), Generation::g3);
    CHECK(cache.pull(deadline_in(kTimeout)).ids == std::vector<std::string>{id});
    expect_images(cache, id, {{"mountpoints-1.img", second}, {"inventory.img", "inv"}});
    // img-cached never held the id as failed: the replaced push was either never announced or
    // aborted only after the new one began, so a restore arriving in between waits for the new one
    // instead of being refused (it was refused once in CI).
    CHECK(
        read_text_file(pair.dir().path() + "/img-cached.log").find("img-proxyd aborted the dump") ==
        std::string::npos);
}

TEST_CASE("bug: appended forward — a second push of parent does not desynchronize the link") {
    DaemonPair pair(one_endpoint());
    await_remote_sockets(pair, {"job"});
    const std::string id1 = pair.dir().path() + "/img/1";
    const std::string id2 = pair.dir().path() + "/img/2";
    const RemoteClient proxy(proxy_socket(pair, "job"), Generation::g3);
    const std::vector<Image> pre = {{"pagemap-1.img", make_content(3, 500)},
                                    {"pages-1.img", make_content(4, 90'000)}};
    const std::vector<Image> last = {{"pagemap-1.img", make_content(5, 700)},
                                     {"pages-1.img", make_content(6, 70'000)},
                                     {"inventory.img", "inv"}};
    dump_images(proxy, id1, pre, false);
    dump_images(proxy, id2, last, true);  // the second push of `parent`, then more images

    const RemoteClient cache(cache_socket(pair, "job"), Generation::g3);
    CHECK(cache.pull(deadline_in(kTimeout)).ids == std::vector<std::string>{id1, id2});
    expect_images(cache, id1, pre);
    expect_images(cache, id2, last);
}

TEST_CASE("bug: zero-size image swallows the stream") {
    DaemonPair pair(one_endpoint());
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    const std::vector<Image> images = {{"seccomp.img", make_content(7, 12)},
                                       {"pages-1.img", ""},
                                       {"pagemap-1.img", make_content(8, 150'000)},
                                       {"pages-2.img", ""},
                                       {"pages-3.img", ""},
                                       {"core-1.img", make_content(9, 3000)},
                                       {"inventory.img", make_content(10, 44)}};
    dump_images(RemoteClient(proxy_socket(pair, "job"), Generation::g3), id, images);
    const RemoteClient cache(cache_socket(pair, "job"), Generation::g3);
    expect_images(cache, id, images);
    CHECK(cache.open_read("memfd.img", id, deadline_in(kTimeout)).reply.describe() == "error=2");
}

TEST_CASE("bug: empty images reported missing") {
    for (auto generation : {Generation::g3, Generation::g2}) {
        INFO(to_string(generation));
        DaemonPair pair(one_endpoint(generation == Generation::g3
                                         ? std::vector<std::string>{}
                                         : std::vector<std::string>{"--remote-data", "socket"}));
        await_remote_sockets(pair, {"job"});
        const std::string id = pair.dir().path() + "/img";
        dump_images(RemoteClient(proxy_socket(pair, "job"), generation), id,
                    {{"pages-1.img", ""}, {"inventory.img", "inv"}});
        const RemoteClient cache(cache_socket(pair, "job"), generation);
        auto empty = cache.open_read("pages-1.img", id, deadline_in(kTimeout));
        REQUIRE(empty.reply.describe() == "error=0");
        auto all = read_to_eof(empty.data.get(), deadline_in(kTimeout));
        CHECK(all.result.status == IoStatus::ok);
        CHECK(all.data.empty());
        CHECK(cache.open_read("pages-2.img", id, deadline_in(kTimeout)).reply.describe() ==
              "error=2");
    }
}

TEST_CASE(
    "bug: proxy end-of-dump ignores images still being received — a finish arriving while pipes "
    "are still "
    "draining loses nothing") {
    DaemonPair pair(one_endpoint());
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    const RemoteClient proxy(proxy_socket(pair, "job"), Generation::g3);
    proxy.push(id);
    REQUIRE(proxy.pull(deadline_in(kTimeout)).ids == std::vector<std::string>{id});

    // As CRIU does: a pipe closed with up to a pipe's worth still unread, then the finish at once.
    const auto small = make_content(11, 60'000);
    REQUIRE(write_image(proxy, "pagemap-1.img", id, small, deadline_in(kTimeout)).status ==
            IoStatus::ok);
    // Harder: a large image whose writer is still writing when the finish comes.
    const auto large = make_content(12, 48 << 20);
    auto pipe = proxy.open_write("pages-1.img", id);
    std::atomic<std::size_t> written{0};
    IoResult outcome;
    std::thread writer([&] {
        constexpr std::size_t kChunk = 64 * 1024;
        const auto deadline = deadline_in(kTimeout);
        for (std::size_t at = 0; at < large.size() && outcome.status == IoStatus::ok;
             at += kChunk) {
            outcome = write_all(pipe.get(), std::string_view(large).substr(at, kChunk), deadline);
            written += outcome.transferred;
        }
        pipe.reset();
    });
    // Bounded poll, finer than poll_until's: the finish must come while the writer still writes.
    const auto wait_progress = deadline_in(kTimeout);
    while (written < (1u << 20) && Clock::now() < wait_progress)
        std::this_thread::sleep_for(milliseconds(1));  // bounded poll
    proxy.finish_dump();
    const std::size_t at_finish = written;
    writer.join();
    INFO("bytes written when the finish was sent: " << at_finish << " of " << large.size());
    CHECK(at_finish < large.size());  // the case under test really happened
    REQUIRE(outcome.status == IoStatus::ok);

    const RemoteClient cache(cache_socket(pair, "job"), Generation::g3);
    expect_images(cache, id, {{"pagemap-1.img", small}, {"pages-1.img", large}});
}

TEST_CASE("bug: pending reads never answered / parked pipe blocks the loop") {
    DaemonPair pair(one_endpoint());
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    const RemoteClient proxy(proxy_socket(pair, "job"), Generation::g3);
    const auto big = make_content(13, 2 << 20);
    const auto small = make_content(14, 5000);
    dump_images(proxy, id, {{"pages-1.img", big}, {"core-1.img", small}}, false);

    // Reads that arrive before the dump finished are parked, not refused.
    const RemoteClient cache(cache_socket(pair, "job"), Generation::g3);
    auto big_read = cache.read_request("pages-1.img", id);
    auto small_read = cache.read_request("core-1.img", id);
    auto missing_read = cache.read_request("memfd.img", id);
    CHECK(read_reply(small_read.get(), deadline_in(kParkedCheck)).status == ReplyStatus::no_answer);

    REQUIRE(write_image(proxy, "inventory.img", id, "inv", deadline_in(kTimeout)).status ==
            IoStatus::ok);
    proxy.finish_dump();

    // The big image's pipe is passed but never read: its pipe stays full.
    auto big_answer = cache.read_answer(std::move(big_read), deadline_in(kTimeout));
    REQUIRE(big_answer.reply.describe() == "error=0");
    auto small_answer = cache.read_answer(std::move(small_read), deadline_in(kTimeout));
    REQUIRE(small_answer.reply.describe() == "error=0");
    CHECK(read_to_eof(small_answer.data.get(), deadline_in(kTimeout)).data == small);
    CHECK(cache.read_answer(std::move(missing_read), deadline_in(kTimeout)).reply.describe() ==
          "error=2");
    // Other work goes on while that pipe is full.
    expect_images(cache, id, {{"inventory.img", "inv"}, {"core-1.img", small}});
    CHECK(cache.pull(deadline_in(kTimeout)).ids == std::vector<std::string>{id});
    CHECK(read_to_eof(big_answer.data.get(), deadline_in(kTimeout)).data == big);
}

TEST_CASE(
    "bug: epoll direction guessing (lone EPOLLHUP) — writers and readers that hang up at once") {
    DaemonPair pair(one_endpoint());
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    const RemoteClient g3(proxy_socket(pair, "job"), Generation::g3);
    const RemoteClient g2(proxy_socket(pair, "job"), Generation::g2);
    g3.push(id);
    REQUIRE(g3.pull(deadline_in(kTimeout)).ids == std::vector<std::string>{id});
    g3.open_write("pages-1.img", id).reset();    // G3: pipe closed at once, only a hang-up arrives
    g2.open_write("pages-2.img", id).reset();    // G2: header, then EOF on the socket
    g3.read_request("pages-1.img", id).reset();  // a parent read that hangs up before its answer
    g3.connect().reset();                        // a connection that never says anything
    REQUIRE(write_image(g3, "inventory.img", id, "inv", deadline_in(kTimeout)).status ==
            IoStatus::ok);
    g3.finish_dump();

    const RemoteClient cache(cache_socket(pair, "job"), Generation::g3);
    cache.read_request("inventory.img", id).reset();  // a restore read that hangs up at once
    cache.connect().reset();
    expect_images(cache, id, {{"pages-1.img", ""}, {"pages-2.img", ""}, {"inventory.img", "inv"}});
}

TEST_CASE(
    "bug: non-zero error to a control read — pulls never get a non-zero error, even when the chain "
    "failed") {
    PairOptions options;
    options.snapshots = {"job", "other"};
    DaemonPair pair(options);
    await_remote_sockets(pair, {"job", "other"});
    const std::string id = pair.dir().path() + "/img";

    // A chain nobody pushed: error 0 and an empty list, in every generation.
    for (auto generation : {Generation::g1, Generation::g2, Generation::g3}) {
        INFO(to_string(generation));
        auto pulled =
            RemoteClient(proxy_socket(pair, "other"), generation).pull(deadline_in(kTimeout));
        CHECK(pulled.reply.describe() == "error=0");
        CHECK(pulled.ids.empty());
        CHECK(pulled.ended_by_eof);
    }
    // A chain that failed (dropped on the proxy mid-dump).
    const RemoteClient proxy(proxy_socket(pair, "job"), Generation::g3);
    dump_images(proxy, id, {{"pages-1.img", make_content(15, 1000)}}, false);
    auto dropped = pair.ctl(Side::proxy, {"drop", id});
    INFO(dropped.out << dropped.err);
    REQUIRE(dropped.exit_status == 0);
    auto after_drop = proxy.pull(deadline_in(kTimeout));
    CHECK(after_drop.reply.describe() == "error=0");
    for (auto generation : {Generation::g1, Generation::g2, Generation::g3}) {
        INFO(to_string(generation));
        const RemoteClient cache(cache_socket(pair, "job"), generation);
        auto pulled = cache.pull(deadline_in(kTimeout));
        CHECK(pulled.reply.describe() == "connection closed without a reply");
        CHECK(
            cache.finish_restore(deadline_in(kTimeout)));  // no reply at all to the restore finish
    }
}

TEST_CASE(
    "bug: restore finish only after the application exited — the cache needs no finish and serves "
    "after one") {
    // The late finish was CRIU's side (G1/G2 send it after the restored task exits); what a
    // daemon can get wrong is depending on it. Restores that never finish, and reads after a
    // finish, must both work.
    DaemonPair pair(one_endpoint());
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    const std::vector<Image> images = {{"core-1.img", make_content(16, 2000)},
                                       {"inventory.img", "inv"}};
    dump_images(RemoteClient(proxy_socket(pair, "job"), Generation::g3), id, images);
    const RemoteClient g3(cache_socket(pair, "job"), Generation::g3);
    const RemoteClient g1(cache_socket(pair, "job"), Generation::g1);  // only its RESTORE_FINISH
    expect_images(g3, id, images);  // a G3 restore that failed: no finish ever
    expect_images(g3, id, images);
    CHECK(g1.finish_restore(deadline_in(kTimeout)));
    CHECK(g3.finish_restore(deadline_in(kTimeout)));
    expect_images(g3, id, images);  // re-reads after a finish
}

TEST_CASE("bug: blocking header reads — a silent client does not stop other transfers") {
    DaemonPair pair(one_endpoint());
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    const RemoteClient proxy(proxy_socket(pair, "job"), Generation::g3);
    const RemoteClient cache(cache_socket(pair, "job"), Generation::g3);
    auto silent_proxy = proxy.connect();
    auto partial_proxy = proxy.connect();
    send_once(partial_proxy.get(), std::string("\x18\x00", 2));  // half a length
    auto silent_cache = cache.connect();
    auto partial_cache = cache.connect();
    send_once(partial_cache.get(),
              local_image_entry_frame("core-1.img", id, kModeRead).substr(0, 9));

    const std::vector<Image> images = {{"pages-1.img", make_content(17, 300'000)},
                                       {"inventory.img", "inv"}};
    const auto started = Clock::now();
    // The pull may wait for the silent connections accepted before it (spec 3.5), 5 s at most.
    dump_images(proxy, id, images);
    expect_images(cache, id, images);
    const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - started).count();
    INFO("dump and restore took " << took << " ms next to the silent clients");
    CHECK(took < 15'000);
}

TEST_CASE(
    "bug: cache leaks its listening socket — a second img-cached binds the port after the first "
    "exits") {
    CacheRestartRig rig;
    const auto& proxy = rig.proxy;
    const auto& cache = rig.cache;
    // One dump through the first cache, so it has accepted the link.
    dump_images(proxy, "/srv/a", {{"inventory.img", "a"}});
    expect_images(cache, "/srv/a", {{"inventory.img", "a"}});

    CHECK(rig.first_cache->stop(seconds(5)));
    auto second = rig.start_cache("2");
    const auto port = static_cast<std::uint16_t>(std::stoi(rig.port));
    poll_until([&] { return tcp_port_listening(port); }, deadline_in(seconds(10)));
    REQUIRE(second->running());
    CHECK(tcp_port_listening(static_cast<std::uint16_t>(std::stoi(rig.port))));
}

TEST_CASE(
    "bug: broken TCP stream leaves parked reads unanswered — img-proxyd killed mid-chain: parked "
    "reads "
    "answer error 5") {
    PairOptions options;
    options.snapshots = {"img/1", "img/2"};
    options.chains = {{"img/1", "job"}, {"img/2", "job"}};
    // img-cached waits --link-resume seconds for img-proxyd to resume the link, then fails the
    // chain.
    options.cache_args = {"--link-resume", "1"};
    DaemonPair pair(options);
    await_remote_sockets(pair, options.snapshots);
    const std::string id1 = pair.dir().path() + "/img/1";
    const std::string id2 = pair.dir().path() + "/img/2";
    dump_images(RemoteClient(proxy_socket(pair, "img/1"), Generation::g3), id1,
                {{"pages-1.img", make_content(18, 100'000)}}, false);
    const RemoteClient proxy2(proxy_socket(pair, "img/2"), Generation::g3);
    dump_images(proxy2, id2, {{"core-1.img", "core"}}, false);
    auto unfinished = proxy2.open_write("pages-1.img", id2);
    REQUIRE(write_all(unfinished.get(), make_content(19, 50'000), deadline_in(kTimeout)).status ==
            IoStatus::ok);

    const RemoteClient cache(cache_socket(pair, "img/2"), Generation::g3);
    auto parked_present = cache.read_request("pages-1.img", id1);
    auto parked_missing = cache.read_request("memfd.img", id2);
    auto parked_pull = cache.pull_request();
    CHECK(read_reply(parked_present.get(), deadline_in(kParkedCheck)).status ==
          ReplyStatus::no_answer);

    pair.kill_proxy();

    CHECK(read_reply(parked_present.get(), deadline_in(kTimeout)).describe() == "error=5");
    CHECK(read_reply(parked_missing.get(), deadline_in(kTimeout)).describe() == "error=5");
    CHECK(read_reply(parked_pull.get(), deadline_in(kTimeout)).describe() ==
          "connection closed without a reply");
    CHECK(cache.open_read("core-1.img", id2, deadline_in(kTimeout)).reply.describe() == "error=5");
    CHECK(pair.running(Side::cache));
}

TEST_CASE(
    "bug: push/pull race — a pull that arrives while the push is still being received lists the "
    "pushed id") {
    DaemonPair pair(one_endpoint());
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    const RemoteClient proxy(proxy_socket(pair, "job"), Generation::g3);
    const auto mark = log_mark(pair, Side::proxy);
    auto push = proxy.push_header_only();
    REQUIRE(wait_for_connection_read(pair, mark, 1));
    auto pull = proxy.pull_request();  // accepted after the push, before its snapshot_id_entry
    REQUIRE(wait_for_connection_read(pair, mark, 2));
    RemoteClient::push_finish(std::move(push), id);
    auto pulled = RemoteClient::read_pull(pull.get(), deadline_in(kTimeout));
    CHECK(pulled.reply.describe() == "error=0");
    CHECK(pulled.ids == std::vector<std::string>{id});
    CHECK(pulled.ended_by_eof);
}

TEST_CASE(
    "bug: push/write race — a write that arrives while the push is still being received joins that "
    "push") {
    DaemonPair pair(one_endpoint());
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    const RemoteClient proxy(proxy_socket(pair, "job"), Generation::g3);
    const auto mark = log_mark(pair, Side::proxy);
    auto push = proxy.push_header_only();
    REQUIRE(wait_for_connection_read(pair, mark, 1));
    // Accepted after the push, before its snapshot_id_entry: it must not start a push of its own
    // that the real push then replaces (which would lose the image).
    const std::string pages = make_content(21, 300'000);
    std::atomic<int> written{-1};
    std::thread writer([&] {
        written = static_cast<int>(
            write_image(proxy, "pages-1.img", id, pages, deadline_in(kTimeout)).status);
    });
    // img-proxyd has read the write's request before the push goes on.
    REQUIRE(wait_for_log_line(pair, Side::proxy, std::regex("write of pages-1.img in snapshot"),
                              deadline_in(kTimeout), mark));
    RemoteClient::push_finish(std::move(push), id);
    writer.join();
    REQUIRE(written == static_cast<int>(IoStatus::ok));
    REQUIRE(write_image(proxy, "inventory.img", id, "inv", deadline_in(kTimeout)).status ==
            IoStatus::ok);
    proxy.finish_dump();
    expect_images(RemoteClient(cache_socket(pair, "job"), Generation::g3), id,
                  {{"pages-1.img", pages}, {"inventory.img", "inv"}});
}

TEST_CASE("bug: 4 KiB per iteration — a 64 MiB image moves intact") {
    DaemonPair pair(one_endpoint());
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    const std::vector<Image> images = {{"pages-1.img", make_content(20, 64 << 20)},
                                       {"inventory.img", "inv"}};
    dump_images(RemoteClient(proxy_socket(pair, "job"), Generation::g3), id, images);
    expect_images(RemoteClient(cache_socket(pair, "job"), Generation::g3), id, images);
}
