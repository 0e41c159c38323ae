// ImageFileBuilder: a file is accepted only when its size and XXH3-64 match what the sender said.
#include <catch2/catch.hpp>
#include <cstring>

#include "store_helpers.hpp"
#include "support/content.hpp"

using namespace imgx::store;
using imgtest::file_bytes;
using imgtest::make_content;

TEST_CASE("a file whose size and checksum match is finished with its bytes in order") {
    const auto content = make_content(1, 100'000);
    auto file = imgtest::make_file("pages-1.img", content, 4096);
    REQUIRE(file);
    CHECK(file->name == "pages-1.img");
    CHECK(file->size == content.size());
    CHECK(file->xxh3 == XXH3_64bits(content.data(), content.size()));
    CHECK(file_bytes(*file) == content);
}

TEST_CASE("an empty file is a valid file") {
    ImageFileBuilder builder("timens-0.img");
    std::string problem;
    auto file = builder.finish(0, XXH3_64bits("", 0), problem);
    REQUIRE(file);
    CHECK(file->size == 0);
    CHECK(file->segments.empty());
}

TEST_CASE("a size mismatch refuses the file and says so") {
    ImageFileBuilder builder("core-1.img");
    std::memcpy(builder.prepare_segment(3), "abc", 3);
    builder.commit_segment();
    CHECK(builder.size() == 3);
    std::string problem;
    CHECK_FALSE(builder.finish(4, XXH3_64bits("abc", 3), problem));
    CHECK_THAT(problem, Catch::Contains("size"));
}

TEST_CASE("a checksum mismatch refuses the file and says so") {
    ImageFileBuilder builder("core-1.img");
    std::memcpy(builder.prepare_segment(3), "abc", 3);
    builder.commit_segment();
    std::string problem;
    CHECK_FALSE(builder.finish(3, XXH3_64bits("abd", 3), problem));
    CHECK_THAT(problem, Catch::Contains("checksum"));
}

TEST_CASE("the checksum covers the concatenation, not the segmentation") {
    const auto content = make_content(2, 10'000);
    CHECK(imgtest::make_file("a", content, 1)->xxh3 ==
          imgtest::make_file("a", content, 9999)->xxh3);
}

TEST_CASE("a prepared but uncommitted segment is not part of the file") {
    ImageFileBuilder builder("x.img");
    std::memcpy(builder.prepare_segment(2), "ab", 2);
    builder.commit_segment();
    builder.prepare_segment(5);  // e.g. a DATA frame whose payload never arrived
    std::string problem;
    auto file = builder.finish(2, XXH3_64bits("ab", 2), problem);
    REQUIRE(file);
    CHECK(file_bytes(*file) == "ab");
}
