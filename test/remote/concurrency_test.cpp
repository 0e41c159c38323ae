// Concurrent restore processes reading interleaved images (criu-protocols.md 3.9): a server that
// fills one pipe to the end before serving the next request deadlocks here.
#include <catch2/catch.hpp>
#include <future>
#include <thread>

#include "remote/remote_pair.hpp"
#include "support/content.hpp"

using namespace imgtest;
using namespace imgtest::remote;

namespace {

constexpr auto kTimeout = seconds(60);
constexpr int kTasks = 6;
constexpr std::size_t kPagemapBytes = 256 * 1024;  // four times a default pipe
constexpr std::size_t kPagesBytes = 1 << 20;
constexpr std::size_t kPagemapHead = 4096;

std::string pagemap_of(int task) { return make_content(1000 + task, kPagemapBytes); }
std::string pages_of(int task) { return make_content(2000 + task, kPagesBytes); }
std::string pagemap_name(int task) { return "pagemap-" + std::to_string(task) + ".img"; }
std::string pages_name(int task) { return "pages-" + std::to_string(task) + ".img"; }

// Dumps kTasks tasks' pagemap and pages, every pipe open at once and written alternately.
void dump_tasks(const DaemonPair& pair, const std::string& id) {
    const RemoteClient proxy(proxy_socket(pair, "job"), Generation::g3);
    proxy.push(id);
    REQUIRE(proxy.pull(deadline_in(kTimeout)).ids == std::vector<std::string>{id});
    std::vector<std::string> contents;
    for (int t = 1; t <= kTasks; ++t) {
        contents.push_back(pagemap_of(t));
        contents.push_back(pages_of(t));
    }
    std::vector<PendingWrite> writes;
    for (int t = 1; t <= kTasks; ++t) {
        writes.push_back(
            {pagemap_name(t), proxy.open_write(pagemap_name(t), id), contents[2 * (t - 1)]});
        writes.push_back(
            {pages_name(t), proxy.open_write(pages_name(t), id), contents[2 * (t - 1) + 1]});
    }
    auto problem = write_interleaved(std::move(writes), deadline_in(kTimeout));
    INFO(problem);
    REQUIRE(problem.empty());
    REQUIRE(write_image(proxy, "inventory.img", id, "inv", deadline_in(kTimeout)).status ==
            IoStatus::ok);
    proxy.finish_dump();
}

// One restorer: pagemap head, then the whole pages image while the pagemap pipe stays
// half-read (and full), then the rest of the pagemap. Returns "" or what went wrong.
std::string restore_task(const RemoteClient& cache, const std::string& id, int task) {
    const auto deadline = deadline_in(kTimeout);
    auto pagemap = cache.open_read(pagemap_name(task), id, deadline);
    if (pagemap.reply.describe() != "error=0")
        return pagemap_name(task) + ": " + pagemap.reply.describe();
    std::string head(kPagemapHead, '\0');
    if (read_exact(pagemap.data.get(), head.data(), head.size(), deadline).status != IoStatus::ok)
        return pagemap_name(task) + ": head not served";
    std::string pages;
    auto reply = cache.fetch(pages_name(task), id, pages, deadline);
    if (reply.describe() != "error=0") return pages_name(task) + ": " + reply.describe();
    if (pages != pages_of(task))
        return pages_name(task) + ": " + describe_difference(pages_of(task), pages);
    auto rest = read_to_eof(pagemap.data.get(), deadline);
    if (rest.result.status != IoStatus::ok) return pagemap_name(task) + ": rest not served";
    if (head + rest.data != pagemap_of(task))
        return pagemap_name(task) + ": " + describe_difference(pagemap_of(task), head + rest.data);
    return "";
}

PairOptions one_endpoint() {
    PairOptions options;
    options.snapshots = {"job"};
    return options;
}

}  // namespace

TEST_CASE(
    "concurrent restore processes each holding a half-read pagemap while reading pages all "
    "complete") {
    DaemonPair pair(one_endpoint());
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    dump_tasks(pair, id);

    const RemoteClient cache(cache_socket(pair, "job"), Generation::g3);
    std::vector<std::future<std::string>> tasks;
    for (int round = 0; round < 2; ++round)  // twice: parent images are read by several tasks
        for (int t = 1; t <= kTasks; ++t)
            tasks.push_back(
                std::async(std::launch::async, [&, t] { return restore_task(cache, id, t); }));
    for (auto& task : tasks) {
        REQUIRE(task.wait_until(deadline_in(kTimeout + seconds(10))) == std::future_status::ready);
        CHECK(task.get() == "");
    }
}

TEST_CASE("one client opening every pagemap before reading any pages is served without deadlock") {
    DaemonPair pair(one_endpoint());
    await_remote_sockets(pair, {"job"});
    const std::string id = pair.dir().path() + "/img";
    dump_tasks(pair, id);

    const RemoteClient cache(cache_socket(pair, "job"), Generation::g3);
    const auto deadline = deadline_in(kTimeout);
    // All pagemaps open at once, each read only a little: every pipe stays full.
    std::vector<std::string> heads(kTasks + 1, std::string(kPagemapHead, '\0'));
    std::vector<ReadResult> pagemaps(kTasks + 1);
    for (int t = 1; t <= kTasks; ++t) {
        pagemaps[t] = cache.open_read(pagemap_name(t), id, deadline);
        REQUIRE(pagemaps[t].reply.describe() == "error=0");
        REQUIRE(
            read_exact(pagemaps[t].data.get(), heads[t].data(), kPagemapHead, deadline).status ==
            IoStatus::ok);
    }
    // Every pages image opened next, also held unread, then read in reverse order.
    std::vector<ReadResult> pages(kTasks + 1);
    for (int t = 1; t <= kTasks; ++t) {
        pages[t] = cache.open_read(pages_name(t), id, deadline);
        REQUIRE(pages[t].reply.describe() == "error=0");
    }
    for (int t = kTasks; t >= 1; --t) {
        auto all = read_to_eof(pages[t].data.get(), deadline);
        CHECK(all.data == pages_of(t));
        auto rest = read_to_eof(pagemaps[t].data.get(), deadline);
        CHECK(heads[t] + rest.data == pagemap_of(t));
    }
}
