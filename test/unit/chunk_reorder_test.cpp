// Multi-lane link sessions: a file's DATA_AT chunks put back in order on img-cached.
#include "link/chunk_reorder.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "wire/frame.hpp"

using namespace imgx;
using namespace imgx::link;

namespace {

ChunkReorder::Held chunk(std::uint64_t offset, const std::string& text, std::uint32_t lane = 1,
                         std::uint64_t frame = 1) {
    return {offset, std::vector<char>(text.begin(), text.end()), lane, frame};
}

// What a receiver does with a chunk: append it in order (and whatever it unblocks), or hold it.
void deliver(ChunkReorder& reorder, std::string& file, std::uint64_t offset,
             const std::string& text) {
    if (reorder.place(offset, text.size()) == ChunkReorder::Place::later) {
        reorder.hold(chunk(offset, text));
        return;
    }
    file += text;
    reorder.appended(text.size());
    while (auto next = reorder.take_next()) {
        file.append(next->bytes.begin(), next->bytes.end());
        reorder.appended(next->bytes.size());
    }
}

}  // namespace

TEST_CASE("chunks in order are appended at once") {
    ChunkReorder reorder;
    std::string file;
    deliver(reorder, file, 0, "abc");
    deliver(reorder, file, 3, "def");
    CHECK(file == "abcdef");
    CHECK(reorder.next() == 6);
    CHECK(reorder.held_count() == 0);
}

TEST_CASE("chunks ahead of the next byte wait until the gap fills, then follow in order") {
    ChunkReorder reorder;
    std::string file;
    deliver(reorder, file, 6, "ghi");
    deliver(reorder, file, 3, "def");
    CHECK(file.empty());
    CHECK(reorder.held_count() == 2);
    CHECK(reorder.held_bytes() == 6);
    CHECK(reorder.end() == 9);
    deliver(reorder, file, 0, "abc");
    CHECK(file == "abcdefghi");
    CHECK(reorder.held_count() == 0);
    CHECK(reorder.held_bytes() == 0);
    CHECK(reorder.next() == 9);
}

TEST_CASE("a held chunk keeps the lane and frame it came in") {
    ChunkReorder reorder;
    REQUIRE(reorder.place(4, 2) == ChunkReorder::Place::later);
    reorder.hold(chunk(4, "ef", 3, 17));
    CHECK_FALSE(reorder.take_next());
    REQUIRE(reorder.place(0, 4) == ChunkReorder::Place::next);
    reorder.appended(4);
    auto next = reorder.take_next();
    REQUIRE(next);
    CHECK(next->lane == 3);
    CHECK(next->frame == 17);
    CHECK(next->offset == 4);
}

TEST_CASE("a chunk repeating or overlapping received or held bytes is a protocol error") {
    ChunkReorder reorder;
    std::string file;
    deliver(reorder, file, 0, "abcd");
    deliver(reorder, file, 10, "klmn");
    CHECK_THROWS_AS(reorder.place(0, 4), wire::ProtocolError);   // duplicate of appended bytes
    CHECK_THROWS_AS(reorder.place(2, 4), wire::ProtocolError);   // overlaps appended bytes
    CHECK_THROWS_AS(reorder.place(10, 4), wire::ProtocolError);  // duplicate of a held chunk
    CHECK_THROWS_AS(reorder.place(8, 3), wire::ProtocolError);   // runs into a held chunk
    CHECK_THROWS_AS(reorder.place(12, 1), wire::ProtocolError);  // inside a held chunk
    CHECK_THROWS_AS(reorder.place(4, 7),
                    wire::ProtocolError);  // in order, but runs into a held chunk
    CHECK_THROWS_AS(reorder.place(~0ULL - 1, 4), wire::ProtocolError);  // past 2^64
    CHECK(reorder.place(4, 6) == ChunkReorder::Place::next);            // exactly fills the gap
    CHECK(reorder.place(14, 1) == ChunkReorder::Place::later);  // right after the held chunk
}

TEST_CASE("FILE_END before the last chunks: the check waits until every announced byte is there") {
    ChunkReorder reorder;
    std::string file;
    deliver(reorder, file, 0, "abc");
    deliver(reorder, file, 6, "ghi");
    reorder.set_size(9);
    CHECK(reorder.size_known());
    CHECK_FALSE(reorder.ready_to_check());
    deliver(reorder, file, 3, "def");
    CHECK(reorder.ready_to_check());
    CHECK(file == "abcdefghi");
}

TEST_CASE(
    "bytes beyond the announced size make the check due at once (it then fails on the size)") {
    ChunkReorder reorder;
    std::string file;
    deliver(reorder, file, 0, "abc");
    reorder.set_size(5);
    CHECK_FALSE(reorder.ready_to_check());
    deliver(reorder, file, 8, "xyz");
    CHECK(reorder.ready_to_check());
}

TEST_CASE("dropping held chunks returns them for their lanes") {
    ChunkReorder reorder;
    reorder.hold(chunk(4, "ef", 2, 5));
    reorder.hold(chunk(8, "ij", 3, 9));
    auto dropped = reorder.drop_held();
    REQUIRE(dropped.size() == 2);
    CHECK(dropped[0].frame == 5);
    CHECK(dropped[1].lane == 3);
    CHECK(reorder.held_bytes() == 0);
    CHECK(reorder.held_count() == 0);
}
