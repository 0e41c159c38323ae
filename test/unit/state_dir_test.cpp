// The state directory: a committed snapshot loads back verified; partial, altered and replaced
// ones are never served.
#include "cached/state_dir.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "asio_helpers.hpp"
#include "store/image_store.hpp"
#include "store_helpers.hpp"
#include "support/content.hpp"
#include "support/temp_dir.hpp"

using namespace imgx::store;
namespace fs = std::filesystem;

namespace {

// Receives `files` (name -> content) into a new snapshot of `id`, as the link does.
std::shared_ptr<Snapshot> receive(ImageStore& store, const std::string& id,
                                  const std::vector<std::pair<std::string, std::string>>& files,
                                  bool complete = true) {
    auto snapshot = store.begin(id, "stream");
    for (const auto& [name, content] : files) {
        auto builder = snapshot->new_file(name);
        for (std::size_t at = 0; at < content.size(); at += 1000) {
            const auto n = std::min<std::size_t>(1000, content.size() - at);
            std::memcpy(builder->prepare_segment(n), content.data() + at, n);
            builder->commit_segment();
        }
        std::string problem;
        auto file =
            builder->finish(content.size(), XXH3_64bits(content.data(), content.size()), problem);
        REQUIRE(file);
        snapshot->add_file(std::move(file));
    }
    if (complete) snapshot->mark_complete();
    return snapshot;
}

std::string served(const ImageStore& store, const std::string& id, const std::string& name) {
    auto snapshot = store.find(id);
    if (!snapshot) return "<no snapshot>";
    std::shared_ptr<const ImageFile> file;
    if (snapshot->lookup(name, &file) != FileLookup::present) return "<not present>";
    return imgtest::file_bytes(*file);
}

std::size_t entries(const std::string& dir) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
    return n;
}

struct Fixture {
    imgtest::TempDir dir;
    boost::asio::io_context io;
    const imgx::cached::StateDir* state_dir = nullptr;  // that of the store open() made last
    std::string state() const { return dir.path() + "/state"; }
    // A store on the state directory, as img-cached makes it with --state-dir.
    ImageStore open(std::uint64_t budget = 0) {
        auto archive = std::make_unique<imgx::cached::StateDir>(state());
        state_dir = archive.get();
        return ImageStore(io.get_executor(), StoreSettings{"", budget}, std::move(archive));
    }
};

}  // namespace

TEST_CASE("a complete snapshot is served again by a new store on the same state directory") {
    Fixture f;
    const auto pages = imgtest::make_content(7, 300'000);
    {
        ImageStore store = f.open();
        auto s = receive(store, "job1",
                         {{"inventory.img", "inv"}, {"pages-1.img", pages}, {"empty.img", ""}});
        CHECK(s->state() == SnapshotState::complete);
    }
    ImageStore again = f.open();
    REQUIRE(f.state_dir);
    CHECK(f.state_dir->loaded == 1);
    auto s = again.find("job1");
    REQUIRE(s);
    CHECK(s->state() == SnapshotState::complete);
    CHECK(served(again, "job1", "inventory.img") == "inv");
    CHECK(served(again, "job1", "pages-1.img") == pages);
    CHECK(served(again, "job1", "empty.img") == "");
    CHECK(s->lookup("memfd.img") == FileLookup::absent);
    CHECK(again.memory().used() == 0);  // loaded files are served from disk
}

TEST_CASE("a snapshot still arriving is discarded at the next start and never served") {
    Fixture f;
    {
        ImageStore store = f.open();
        receive(store, "done", {{"a.img", "a"}});
        receive(store, "cut", {{"a.img", "partial"}}, /*complete=*/false);
        CHECK(entries(f.state() + "/partial") == 1);
    }  // as if killed: the partial directory stays
    ImageStore again = f.open();
    CHECK(f.state_dir->discarded == 1);
    CHECK(entries(f.state() + "/partial") == 0);
    CHECK_FALSE(again.find("cut"));
    CHECK(served(again, "done", "a.img") == "a");
}

TEST_CASE("a persisted file altered on disk sets its snapshot aside") {
    Fixture f;
    {
        ImageStore store = f.open();
        receive(store, "job1", {{"pages-1.img", "0123456789"}});
        receive(store, "job2", {{"pages-1.img", "intact"}});
    }
    std::string altered;
    for (const auto& e : fs::directory_iterator(f.state() + "/snapshots"))
        if (e.path().filename().string().rfind("job1-", 0) == 0)
            altered = (e.path() / "images" / "pages-1.img").string();
    REQUIRE_FALSE(altered.empty());
    std::fstream(altered, std::ios::in | std::ios::out | std::ios::binary).write("X", 1);
    ImageStore again = f.open();
    CHECK(f.state_dir->set_aside == 1);
    CHECK_FALSE(again.find("job1"));
    CHECK(served(again, "job2", "pages-1.img") == "intact");
    CHECK(entries(f.state() + "/bad") == 1);
}

TEST_CASE(
    "a failed dump leaves nothing on disk; a new dump of an id replaces the old copy at once") {
    Fixture f;
    {
        ImageStore store = f.open();
        receive(store, "job1", {{"a.img", "old"}});
        auto broken = receive(store, "job2", {{"a.img", "x"}}, false);
        broken->mark_failed("link lost");
        CHECK(entries(f.state() + "/partial") == 0);
        receive(store, "job1", {{"a.img", "new"}}, false);  // the newer dump is still arriving
    }
    ImageStore again = f.open();
    CHECK_FALSE(again.find("job2"));
    CHECK_FALSE(again.find("job1"));  // neither the old copy nor the unfinished new one
}

TEST_CASE("drop removes the copy on disk") {
    Fixture f;
    {
        ImageStore store = f.open();
        receive(store, "job1", {{"a.img", "a"}});
        CHECK(store.drop("job1"));
    }
    ImageStore again = f.open();
    CHECK_FALSE(again.find("job1"));
    CHECK(entries(f.state() + "/snapshots") == 0);
}

TEST_CASE("beyond the memory budget, a persisted snapshot's pieces are served from disk") {
    Fixture f;
    ImageStore store = f.open(/*budget=*/4000);
    const auto content = imgtest::make_content(3, 20'000);
    receive(store, "job1", {{"pages-1.img", content}});
    CHECK(store.memory().used() <= 4000);
    CHECK(store.memory().spilled_bytes >= 16'000);
    CHECK(served(store, "job1", "pages-1.img") == content);
}

TEST_CASE("without a state directory, pieces beyond the budget go to the spool directory") {
    Fixture f;
    const std::string spool = f.dir.make_dir("spool");
    ImageStore store(f.io.get_executor(), StoreSettings{spool, 4000});
    const auto content = imgtest::make_content(4, 20'000);
    receive(store, "job1", {{"pages-1.img", content}});
    CHECK(store.memory().used() <= 4000);
    CHECK(store.memory().spilled_bytes >= 16'000);
    CHECK(served(store, "job1", "pages-1.img") == content);
    CHECK(entries(spool) == 0);  // unnamed spool files: nothing left behind
}

TEST_CASE("without anywhere to spill, the piece beyond the budget fails with a clear error") {
    Fixture f;
    ImageStore store(f.io.get_executor(), StoreSettings{"", 4000});
    auto snapshot = store.begin("job1", "stream");
    auto builder = snapshot->new_file("pages-1.img");
    const auto content = imgtest::make_content(5, 3000);
    std::memcpy(builder->prepare_segment(content.size()), content.data(), content.size());
    builder->commit_segment();
    std::memcpy(builder->prepare_segment(content.size()), content.data(), content.size());
    CHECK_THROWS_WITH(builder->commit_segment(),
                      Catch::Contains("snapshot 'job1'") &&
                          Catch::Contains("memory budget of 4000 bytes reached") &&
                          Catch::Contains("no spool directory configured") &&
                          Catch::Contains("pages-1.img"));
    builder.reset();
    CHECK(store.memory().used() == 0);  // what the file had taken is given back
}
