// The block pool: blocks come back and are reused, the free ones are bounded, prefault backs them
// with memory, builders charge the budget what they hold, and no block is reused while a file
// (a snapshot, or a restore still feeding it) holds it.
#include "store/block_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <set>
#include <vector>

#include "store/image_file.hpp"
#include "store/image_store.hpp"
#include "store_helpers.hpp"
#include "support/content.hpp"
#include "support/temp_dir.hpp"

using namespace imgx::store;

namespace {

constexpr std::size_t kBlock = 64 * 1024;

// Every block of `file`'s in-memory pieces.
std::set<const char*> blocks_of(const ImageFile& file) {
    std::set<const char*> out;
    for (const auto& s : file.segments)
        if (s.bytes.pooled()) out.insert(s.bytes.get());
    return out;
}

// Pieces of `content` of the given sizes, in turn, until it is all in the builder.
void feed(ImageFileBuilder& builder, std::string_view content,
          const std::vector<std::size_t>& sizes) {
    std::size_t at = 0;
    for (std::size_t i = 0; at < content.size(); ++i) {
        const std::size_t n = std::min(sizes[i % sizes.size()], content.size() - at);
        std::memcpy(builder.prepare_segment(n), content.data() + at, n);
        builder.commit_segment();
        at += n;
    }
}

std::shared_ptr<const ImageFile> finish(ImageFileBuilder& builder, std::string_view content) {
    std::string problem;
    auto file =
        builder.finish(content.size(), XXH3_64bits(content.data(), content.size()), problem);
    INFO(problem);
    REQUIRE(file);
    return file;
}

}  // namespace

TEST_CASE("a block given back is taken again instead of a new one") {
    auto pool = std::make_shared<BlockPool>(kBlock);
    auto first = pool->take();
    REQUIRE(first);
    CHECK(first.pooled());
    CHECK(first.held() == kBlock);
    CHECK(reinterpret_cast<std::uintptr_t>(first.get()) %
              static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE)) ==
          0);
    const char* where = first.get();
    CHECK(pool->blocks_in_use() == 1);
    first = {};
    CHECK(pool->blocks_in_use() == 0);
    CHECK(pool->free_blocks() == 1);
    auto second = pool->take();
    CHECK(second.get() == where);
    CHECK(pool->blocks_created() == 1);
    CHECK(pool->blocks_reused() == 1);
}

TEST_CASE("free blocks beyond the bound go back to the heap") {
    auto pool = std::make_shared<BlockPool>(kBlock, /*max_free_blocks=*/2);
    std::vector<SegmentMemory> taken;
    for (int i = 0; i < 5; ++i) taken.push_back(pool->take());
    CHECK(pool->blocks_in_use() == 5);
    taken.clear();
    CHECK(pool->blocks_in_use() == 0);
    CHECK(pool->free_blocks() == 2);
    for (int i = 0; i < 3; ++i) taken.push_back(pool->take());
    CHECK(pool->blocks_reused() == 2);
    CHECK(pool->blocks_created() == 6);
}

TEST_CASE("prefault backs every page of its blocks with memory and keeps them free") {
    auto pool = std::make_shared<BlockPool>(kBlock, /*max_free_blocks=*/1);
    pool->prefault(4);
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    CHECK(pool->free_blocks() == 4);
    CHECK(pool->max_free_blocks() == 4);  // grown to hold them
    CHECK(pool->blocks_created() == 4);
    CHECK(pool->pages_touched() == 4 * (kBlock / page));
    std::vector<SegmentMemory> taken;
    for (int i = 0; i < 4; ++i) {
        taken.push_back(pool->take());
        std::vector<unsigned char> resident(kBlock / page);
        REQUIRE(::mincore(taken.back().get(), kBlock, resident.data()) == 0);
        std::size_t in_core = 0;
        for (auto r : resident) in_core += r & 1;
        CHECK(in_core == resident.size());
    }
    CHECK(pool->blocks_created() == 4);  // all four came from the prefaulted ones
    CHECK(pool->blocks_reused() == 4);
}

TEST_CASE(
    "a builder puts large pieces in blocks, fills a block with the pieces that fit, "
    "gives small pieces their size, and charges the budget what it holds") {
    auto pool = std::make_shared<BlockPool>(kBlock);
    auto budget = std::make_shared<MemoryBudget>();  // no limit, but it counts
    FileStorage storage;
    storage.budget = budget;
    storage.pool = pool;
    const std::string content = imgtest::make_content(5, 300'000);
    ImageFileBuilder builder("pages-1.img", storage);
    // 40000: more than half a block, a block; 20000 fits in its rest; 10000 does not, and the
    // file has less than a block so far: its own 10000 bytes; then 30000 with a block's worth
    // received: a block.
    feed(builder, std::string_view(content).substr(0, 100'000), {40'000, 20'000, 10'000, 30'000});
    CHECK(pool->blocks_in_use() == 2);
    CHECK(budget->used() == kBlock + 10'000 + kBlock);
    auto file = finish(builder, std::string_view(content).substr(0, 100'000));
    REQUIRE(file->segments.size() == 3);
    CHECK(file->segments[0].size == 60'000);
    CHECK(file->segments[1].size == 10'000);
    CHECK_FALSE(file->segments[1].bytes.pooled());
    CHECK(file->segments[2].size == 30'000);
    CHECK(imgtest::file_bytes(*file) == content.substr(0, 100'000));

    // A small file takes no block.
    ImageFileBuilder small("core-1.img", storage);
    feed(small, "core", {4});
    auto core = finish(small, "core");
    CHECK(pool->blocks_in_use() == 2);
    CHECK(budget->used() == 2 * kBlock + 10'000 + 4);

    file.reset();
    core.reset();
    CHECK(budget->used() == 0);
    CHECK(pool->blocks_in_use() == 0);
    CHECK(pool->free_blocks() == 2);
}

TEST_CASE("a piece beyond the budget goes to the spool file and its block back to the pool") {
    imgtest::TempDir spool;
    auto pool = std::make_shared<BlockPool>(kBlock);
    auto budget = std::make_shared<MemoryBudget>(2 * kBlock);
    FileStorage storage{budget, nullptr, spool.path()};
    storage.pool = pool;
    const std::string content = imgtest::make_content(6, 5 * kBlock + 123);
    ImageFileBuilder builder("pages-1.img", storage);
    feed(builder, content, {kBlock});
    auto file = finish(builder, content);
    CHECK(budget->used() == 2 * kBlock);
    CHECK(budget->spilled_bytes == 3 * kBlock + 123);
    CHECK(pool->blocks_in_use() == 2);
    CHECK(pool->blocks_created() == 3);  // the spilled pieces passed through one block in turn
    CHECK(imgtest::file_bytes(*file) == content);
}

TEST_CASE(
    "a block is not reused while a restore still holds its file after the snapshot is replaced") {
    boost::asio::io_context io;
    ImageStore store(io.get_executor());
    const std::size_t block = store.blocks().block_bytes();
    const std::string old_content = imgtest::make_content(7, 3 * block);
    auto old = store.begin("job1", "stream");
    {
        auto builder = old->new_file("pages-1.img");
        feed(*builder, old_content, {block});
        old->add_file(finish(*builder, old_content));
    }
    old->mark_complete();
    std::shared_ptr<const ImageFile> held;  // what a restore feeding the file holds
    REQUIRE(old->lookup("pages-1.img", &held) == FileLookup::present);
    const auto held_blocks = blocks_of(*held);
    REQUIRE(held_blocks.size() == 3);
    old.reset();

    // A new dump of the id replaces the snapshot; the restore still has its file.
    auto fresh = store.begin("job1", "stream");
    const std::string new_content(4 * block, '\xEE');
    auto builder = fresh->new_file("pages-1.img");
    feed(*builder, new_content, {block});
    auto fresh_file = finish(*builder, new_content);
    for (const char* b : blocks_of(*fresh_file)) CHECK_FALSE(held_blocks.contains(b));
    CHECK(imgtest::file_bytes(*held) == old_content);

    // Once the restore lets go, the blocks come back and the next dump reuses them.
    const auto reused_before = store.blocks().blocks_reused();
    held.reset();
    CHECK(store.blocks().free_blocks() == 3);
    auto next = store.begin("job2", "stream");
    auto again = next->new_file("pages-1.img");
    feed(*again, new_content.substr(0, block), {block});
    CHECK(store.blocks().blocks_reused() == reused_before + 1);
}

TEST_CASE("a store with a memory budget keeps at most the budget in free blocks") {
    boost::asio::io_context io;
    ImageStore store(io.get_executor(), StoreSettings{"", 3 << 20});
    CHECK(store.blocks().max_free_blocks() == 3);
    ImageStore unlimited(io.get_executor());
    CHECK(unlimited.blocks().max_free_blocks() == BlockPool::kNoBound);
}
