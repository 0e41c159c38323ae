// Snapshot manifests: written and read back, and any truncated, altered or unknown content refused.
#include "store/manifest.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <catch2/catch.hpp>
#include <string>

#include "support/temp_dir.hpp"

using namespace imgx::store;

namespace {

Manifest example() {
    Manifest m;
    m.id = "/srv/migrate/job 1";
    m.protocol = "remote";
    m.chain = "chain";
    m.chain_ids = {"/srv/migrate/1", "/srv/migrate/job 1"};
    m.files = {{"inventory.img", 3, 0x0123456789abcdefULL}, {"pages 1.img", 0, 42}};
    return m;
}

// A file in `dir` holding `content`, open for reading.
int file_with(const imgtest::TempDir& dir, const std::string& content) {
    const std::string path = dir.path() + "/f";
    int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
    return fd;
}

}  // namespace

TEST_CASE("a manifest reads back as written, ids and names with spaces included") {
    const auto m = example();
    const auto back = parse_manifest(format_manifest(m));
    CHECK(back.id == m.id);
    CHECK(back.protocol == "remote");
    CHECK(back.chain == "chain");
    CHECK(back.chain_ids == m.chain_ids);
    REQUIRE(back.files.size() == 2);
    CHECK(back.files[0].name == "inventory.img");
    CHECK(back.files[0].size == 3);
    CHECK(back.files[0].xxh3 == 0x0123456789abcdefULL);
    CHECK(back.files[1].name == "pages 1.img");
}

TEST_CASE("a stream manifest has no chain lines") {
    Manifest m{"job1", "stream", {}, {}, {{"a.img", 1, 2}}};
    const auto text = format_manifest(m);
    CHECK(text.find("chain") == std::string::npos);
    CHECK(parse_manifest(text).files.size() == 1);
}

TEST_CASE("a manifest cut short anywhere is refused") {
    const auto text = format_manifest(example());
    for (std::size_t keep = 0; keep < text.size(); ++keep) {
        INFO("kept " << keep << " of " << text.size() << " bytes");
        CHECK_THROWS_AS(parse_manifest(std::string_view(text).substr(0, keep)), ManifestError);
    }
}

TEST_CASE("a manifest with an altered or unknown line is refused with its line number") {
    auto text = format_manifest(example());
    SECTION("a file count that does not match") {
        text.replace(text.find("end 2"), 5, "end 3");
        CHECK_THROWS_WITH(parse_manifest(text), Catch::Contains("file count"));
    }
    SECTION("a name that would leave the directory") {
        text.replace(text.find("inventory.img"), 13, "../inventory.");
        CHECK_THROWS_WITH(parse_manifest(text), Catch::Contains("line 7"));
    }
    SECTION("a size that is not a number") {
        text.replace(text.find(" 3 inventory"), 3, " x ");
        CHECK_THROWS_AS(parse_manifest(text), ManifestError);
    }
    SECTION("another format") {
        text[0] = 'X';
        CHECK_THROWS_WITH(parse_manifest(text), Catch::Contains("line 1"));
    }
    SECTION("an unknown keyword") {
        text.insert(text.find("end"), "mode fast\n");
        CHECK_THROWS_WITH(parse_manifest(text), Catch::Contains("unknown keyword"));
    }
}

TEST_CASE("a file is checked against the manifest by size and recomputed checksum") {
    imgtest::TempDir dir;
    const std::string content = "checkpoint bytes";
    const int fd = file_with(dir, content);
    const ManifestFile right{"a.img", content.size(), XXH3_64bits(content.data(), content.size())};
    CHECK_FALSE(file_problem(fd, right));
    SECTION("truncated") {
        REQUIRE(::ftruncate(fd, 4) == 0);
        auto problem = file_problem(fd, right);
        REQUIRE(problem);
        CHECK_THAT(*problem, Catch::Contains("size is 4 bytes"));
    }
    SECTION("altered, same size") {
        REQUIRE(::pwrite(fd, "C", 1, 0) == 1);
        auto problem = file_problem(fd, right);
        REQUIRE(problem);
        CHECK_THAT(*problem, Catch::Contains("checksum"));
    }
    ::close(fd);
}
