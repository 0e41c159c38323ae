// Pre-dump chains (criu pre-dump --remote ... criu dump --remote): the ordered id list, parent
// reads from the proxy, and a cache that serves the chain only after the final dump's finish.
#include <catch2/catch.hpp>
#include <thread>

#include "remote/remote_pair.hpp"
#include "support/content.hpp"
#include "support/daemon_waits.hpp"
#include "support/fault_relay.hpp"
#include "support/temp_dir.hpp"

using namespace imgtest;
using namespace imgtest::remote;

namespace {

constexpr auto kTimeout = seconds(30);
constexpr std::size_t kPagemapBytes = 3000;
constexpr std::size_t kPagesBytes = 300'000;  // larger than a pipe

struct ChainSetup {
    std::vector<std::string> dirs;  // endpoint directories, one per -D
    std::vector<std::string> ids;   // the -D strings CRIU sends
    PairOptions options;
};

ChainSetup chain_of(int length) {
    ChainSetup s;
    for (int k = 1; k <= length; ++k) {
        s.dirs.push_back("img/" + std::to_string(k));
        s.options.chains[s.dirs.back()] = "job";
    }
    s.options.snapshots = s.dirs;
    return s;
}

std::string pagemap_of(int k) { return make_content(100 + k, kPagemapBytes); }
std::string pages_of(int k) { return make_content(200 + k, kPagesBytes); }

// One pre-dump or dump of snapshot k (1-based) of the chain, as CRIU does it: push, pull (the
// list must end with its own id), write the images, read the parent's pagemap and pages from
// the proxy, and, for the final dump, inventory.img and the finish.
void dump_step(const DaemonPair& pair, const ChainSetup& s, int k, bool final_dump) {
    const RemoteClient proxy(proxy_socket(pair, s.dirs[k - 1]), Generation::g3);
    const auto& id = s.ids[k - 1];
    proxy.push(id);
    auto pulled = proxy.pull(deadline_in(kTimeout));
    REQUIRE(pulled.reply.describe() == "error=0");
    CHECK(pulled.ended_by_eof);
    const std::vector<std::string> expected(s.ids.begin(), s.ids.begin() + k);
    CHECK(pulled.ids == expected);  // the list grows by one per pre-dump

    // Pagemap and pages are open together and written alternately.
    std::vector<PendingWrite> writes;
    const auto pagemap = pagemap_of(k);
    const auto pages = pages_of(k);
    writes.push_back({"pagemap-1.img", proxy.open_write("pagemap-1.img", id), pagemap});
    writes.push_back({"pages-1.img", proxy.open_write("pages-1.img", id), pages});
    auto problem = write_interleaved(std::move(writes), deadline_in(kTimeout));
    INFO(problem);
    REQUIRE(problem.empty());

    if (k > 1) {
        // The parent's images, from the proxy's kept copy, exactly as written earlier.
        std::string got;
        CHECK(proxy.fetch("pagemap-1.img", s.ids[k - 2], got, deadline_in(kTimeout)).describe() ==
              "error=0");
        CHECK(got == pagemap_of(k - 1));
        CHECK(proxy.fetch("pages-1.img", s.ids[k - 2], got, deadline_in(kTimeout)).describe() ==
              "error=0");
        CHECK(got.size() == kPagesBytes);
        CHECK(got == pages_of(k - 1));
        // A parent image that was never written: ENOENT at once.
        CHECK(proxy.open_read("pagemap-999.img", s.ids[k - 2], deadline_in(seconds(5)))
                  .reply.describe() == "error=2");
    }
    if (final_dump) {
        REQUIRE(write_image(proxy, "inventory.img", id, "inventory of " + id, deadline_in(kTimeout))
                    .status == IoStatus::ok);
        proxy.finish_dump();
    }
}

void restore_chain(const DaemonPair& pair, const ChainSetup& s) {
    const RemoteClient cache(cache_socket(pair, s.dirs.back()), Generation::g3);
    auto pulled = cache.pull(deadline_in(kTimeout));
    REQUIRE(pulled.reply.describe() == "error=0");
    CHECK(pulled.ids == s.ids);
    std::string got;
    CHECK(cache.fetch("inventory.img", s.ids.back(), got, deadline_in(kTimeout)).describe() ==
          "error=0");
    CHECK(got == "inventory of " + s.ids.back());
    for (std::size_t k = s.ids.size(); k >= 1; --k) {  // restore follows parents backwards
        INFO("snapshot " << s.ids[k - 1]);
        CHECK(cache.fetch("pagemap-1.img", s.ids[k - 1], got, deadline_in(kTimeout)).describe() ==
              "error=0");
        CHECK(got == pagemap_of(static_cast<int>(k)));
        CHECK(cache.fetch("pages-1.img", s.ids[k - 1], got, deadline_in(kTimeout)).describe() ==
              "error=0");
        CHECK(got == pages_of(static_cast<int>(k)));
    }
    CHECK(cache.open_read("memfd.img", s.ids.back(), deadline_in(kTimeout)).reply.describe() ==
          "error=2");
    CHECK(cache.finish_restore(deadline_in(kTimeout)));
}

void run_chain(int length) {
    auto s = chain_of(length);
    DaemonPair pair(s.options);
    await_remote_sockets(pair, s.dirs);
    for (int k = 1; k <= length; ++k)
        s.ids.push_back(pair.dir().path() + "/img/" + std::to_string(k));

    // A restore read of the first pre-dump's pages, parked from the start.
    const RemoteClient cache_first(cache_socket(pair, s.dirs.front()), Generation::g3);
    for (int k = 1; k < length; ++k) dump_step(pair, s, k, false);
    auto parked = cache_first.read_request("pages-1.img", s.ids.front());
    auto early = read_reply(parked.get(), deadline_in(milliseconds(800)));
    INFO("a pre-dump's image read before the final finish got: " << early.describe());
    CHECK(early.status ==
          ReplyStatus::no_answer);  // pre-dumps are not served before the final finish

    dump_step(pair, s, length, true);

    auto answered = cache_first.read_answer(std::move(parked), deadline_in(kTimeout));
    REQUIRE(answered.reply.describe() == "error=0");
    auto content = read_to_eof(answered.data.get(), deadline_in(kTimeout));
    CHECK(content.data == pages_of(1));
    restore_chain(pair, s);
}

}  // namespace

TEST_CASE(
    "a two-snapshot pre-dump chain: the dump reads its parent from the proxy, the restore reads "
    "both") {
    run_chain(2);
}

TEST_CASE(
    "a three-snapshot pre-dump chain: every later dump reads its parent, the restore follows the "
    "chain") {
    run_chain(3);
}

TEST_CASE(
    "a chain kept in img-cached's state directory is pulled and restored after img-cached "
    "restarts") {
    TempDir state;
    auto s = chain_of(2);
    s.options.cache_args = {"--state-dir", state.path() + "/state"};
    DaemonPair pair(s.options);
    await_remote_sockets(pair, s.dirs);
    for (int k = 1; k <= 2; ++k) s.ids.push_back(pair.dir().path() + "/img/" + std::to_string(k));
    dump_step(pair, s, 1, false);
    dump_step(pair, s, 2, true);
    for (const auto& id : s.ids)
        REQUIRE(pair.ctl(Side::cache, {"wait", id, "--timeout", "20"}).exit_status == 0);
    pair.kill_cache();
    pair.restart_cache();
    await_remote_sockets(pair, s.dirs, /*proxy=*/false);
    restore_chain(pair, s);
}

TEST_CASE("a snapshot id pushed again keeps its place in the chain and its images are replaced") {
    auto s = chain_of(2);
    DaemonPair pair(s.options);
    await_remote_sockets(pair, s.dirs);
    for (int k = 1; k <= 2; ++k) s.ids.push_back(pair.dir().path() + "/img/" + std::to_string(k));
    const RemoteClient first(proxy_socket(pair, s.dirs[0]), Generation::g3);

    // A pre-dump that is retried with the same -D: the first attempt's images go away.
    first.push(s.ids[0]);
    REQUIRE(write_image(first, "pages-1.img", s.ids[0], "first attempt", deadline_in(kTimeout))
                .status == IoStatus::ok);
    REQUIRE(write_image(first, "stale.img", s.ids[0], "only in the first attempt",
                        deadline_in(kTimeout))
                .status == IoStatus::ok);
    first.push(s.ids[0]);
    auto pulled = first.pull(deadline_in(kTimeout));
    CHECK(pulled.ids == std::vector<std::string>{s.ids[0]});
    REQUIRE(write_image(first, "pagemap-1.img", s.ids[0], pagemap_of(1), deadline_in(kTimeout))
                .status == IoStatus::ok);
    REQUIRE(
        write_image(first, "pages-1.img", s.ids[0], pages_of(1), deadline_in(kTimeout)).status ==
        IoStatus::ok);

    const RemoteClient second(proxy_socket(pair, s.dirs[1]), Generation::g3);
    second.push(s.ids[1]);
    pulled = second.pull(deadline_in(kTimeout));
    CHECK(pulled.ids == s.ids);
    std::string got;
    CHECK(second.fetch("pages-1.img", s.ids[0], got, deadline_in(kTimeout)).describe() ==
          "error=0");
    CHECK(got == pages_of(1));
    CHECK(second.open_read("stale.img", s.ids[0], deadline_in(kTimeout)).reply.describe() ==
          "error=2");
    REQUIRE(write_image(second, "inventory.img", s.ids[1], "inv", deadline_in(kTimeout)).status ==
            IoStatus::ok);
    second.finish_dump();

    const RemoteClient cache(cache_socket(pair, s.dirs[1]), Generation::g3);
    pulled = cache.pull(deadline_in(kTimeout));
    CHECK(pulled.ids == s.ids);
    CHECK(cache.fetch("pages-1.img", s.ids[0], got, deadline_in(kTimeout)).describe() == "error=0");
    CHECK(got == pages_of(1));
    CHECK(cache.fetch("pagemap-1.img", s.ids[0], got, deadline_in(kTimeout)).describe() ==
          "error=0");
    CHECK(got == pagemap_of(1));
    CHECK(cache.open_read("stale.img", s.ids[0], deadline_in(kTimeout)).reply.describe() ==
          "error=2");
}

TEST_CASE(
    "an image still arriving when its snapshot id is pushed again is not part of the new push") {
    auto s = chain_of(2);
    DaemonPair pair(s.options);
    await_remote_sockets(pair, s.dirs);
    for (int k = 1; k <= 2; ++k) s.ids.push_back(pair.dir().path() + "/img/" + std::to_string(k));
    const RemoteClient first(proxy_socket(pair, s.dirs[0]), Generation::g3);

    first.push(s.ids[0]);
    auto slow = first.open_write("stale.img", s.ids[0]);  // answered: bound to the first push
    REQUIRE(write_all(slow.get(), "the first half, ", deadline_in(kTimeout)).status ==
            IoStatus::ok);
    first.push(s.ids[0]);
    // The pull is answered only after the push before it was recorded.
    CHECK(first.pull(deadline_in(kTimeout)).ids == std::vector<std::string>{s.ids[0]});
    // The first push was aborted: img-proxyd may have stopped reading its pipe (EPIPE here).
    const auto rest = write_all(slow.get(), "and the second half", deadline_in(kTimeout));
    INFO("the rest of the replaced write: status " << static_cast<int>(rest.status));
    slow.reset();
    REQUIRE(
        write_image(first, "pages-1.img", s.ids[0], pages_of(1), deadline_in(kTimeout)).status ==
        IoStatus::ok);

    const RemoteClient second(proxy_socket(pair, s.dirs[1]), Generation::g3);
    second.push(s.ids[1]);
    CHECK(second.pull(deadline_in(kTimeout)).ids == s.ids);
    CHECK(second.open_read("stale.img", s.ids[0], deadline_in(kTimeout)).reply.describe() ==
          "error=2");
    REQUIRE(write_image(second, "inventory.img", s.ids[1], "inv", deadline_in(kTimeout)).status ==
            IoStatus::ok);
    second.finish_dump();

    const RemoteClient cache(cache_socket(pair, s.dirs[1]), Generation::g3);
    CHECK(cache.pull(deadline_in(kTimeout)).ids == s.ids);
    std::string got;
    CHECK(cache.fetch("pages-1.img", s.ids[0], got, deadline_in(kTimeout)).describe() == "error=0");
    CHECK(got == pages_of(1));
    CHECK(cache.open_read("stale.img", s.ids[0], deadline_in(kTimeout)).reply.describe() ==
          "error=2");
}

TEST_CASE("the restore's pull waits for the final dump's finish and then lists the whole chain") {
    auto s = chain_of(2);
    DaemonPair pair(s.options);
    await_remote_sockets(pair, s.dirs);
    for (int k = 1; k <= 2; ++k) s.ids.push_back(pair.dir().path() + "/img/" + std::to_string(k));
    dump_step(pair, s, 1, false);
    const RemoteClient cache(cache_socket(pair, s.dirs[1]), Generation::g3);
    auto pull = cache.pull_request();
    auto early = read_reply(pull.get(), deadline_in(milliseconds(800)));
    CHECK(early.status == ReplyStatus::no_answer);
    dump_step(pair, s, 2, true);
    auto pulled = RemoteClient::read_pull(pull.get(), deadline_in(kTimeout));
    CHECK(pulled.reply.describe() == "error=0");
    CHECK(pulled.ids == s.ids);
    CHECK(pulled.ended_by_eof);
}

TEST_CASE(
    "a finish sent while the link is still coming up waits for the images written before it") {
    // CRIU answers nothing to a write, so its finish may reach img-proxyd while every write still
    // waits for the push to be announced; the chain must end with those images, not without them.
    auto s = chain_of(1);
    s.options.start_proxy = false;
    DaemonPair pair(s.options);
    FaultRelay relay(pair.port());
    relay.stall_at(0);  // nothing reaches img-cached: the link handshake cannot finish
    pair.route_link_through(relay.port());
    pair.start_proxy();
    await_remote_sockets(pair, s.dirs);
    s.ids.push_back(pair.dir().path() + "/img/1");
    const auto& id = s.ids.front();

    const RemoteClient proxy(proxy_socket(pair, s.dirs.front()), Generation::g3);
    proxy.push(id);
    auto pulled = proxy.pull(deadline_in(kTimeout));
    REQUIRE(pulled.reply.describe() == "error=0");
    const auto pagemap = pagemap_of(1);  // small enough to sit in CRIU's pipe unread
    REQUIRE(write_image(proxy, "pagemap-1.img", id, pagemap, deadline_in(kTimeout)).status ==
            IoStatus::ok);
    REQUIRE(write_image(proxy, "inventory.img", id, "inventory of " + id, deadline_in(kTimeout))
                .status == IoStatus::ok);
    const auto mark = log_mark(pair, Side::proxy);
    proxy.finish_dump();
    REQUIRE(relay.wait_for_fault(deadline_in(kTimeout)));
    // The finish has reached img-proxyd (its connection names no snapshot) and waits there.
    REQUIRE(wait_for_log_line(pair, Side::proxy,
                              std::regex(R"(img-remote connection from CRIU \(.*\) in \S+$)"),
                              deadline_in(kTimeout), mark));
    relay.release_stall();

    const RemoteClient cache(cache_socket(pair, s.dirs.front()), Generation::g3);
    std::string got;
    CHECK(cache.fetch("pagemap-1.img", id, got, deadline_in(kTimeout)).describe() == "error=0");
    CHECK(got == pagemap);
    CHECK(cache.fetch("inventory.img", id, got, deadline_in(kTimeout)).describe() == "error=0");
    CHECK(got == "inventory of " + id);
}
