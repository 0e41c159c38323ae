// Snapshot: what a restore is told about a file while the dump arrives, completes or fails.
#include "store/snapshot.hpp"

#include <catch2/catch.hpp>

#include "asio_helpers.hpp"
#include "store_helpers.hpp"

using namespace imgx::store;
using imgtest::make_file;
using imgtest::settle;
using imgtest::start;

namespace {

struct Fixture {
    boost::asio::io_context io;
    Snapshot snapshot{io.get_executor(), "job1", "stream"};
};

}  // namespace

TEST_CASE("a new snapshot is receiving and answers pending for any file") {
    Fixture f;
    CHECK(f.snapshot.id() == "job1");
    CHECK(f.snapshot.protocol() == "stream");
    CHECK(f.snapshot.state() == SnapshotState::receiving);
    CHECK(f.snapshot.lookup("inventory.img") == FileLookup::pending);
    CHECK(state_name(SnapshotState::receiving) == "receiving");
}

TEST_CASE("a file that arrived is present while the dump is still receiving") {
    Fixture f;
    f.snapshot.add_file(make_file("inventory.img", "inv"));
    std::shared_ptr<const ImageFile> file;
    CHECK(f.snapshot.lookup("inventory.img", &file) == FileLookup::present);
    REQUIRE(file);
    CHECK(imgtest::file_bytes(*file) == "inv");
    CHECK(f.snapshot.lookup("pstree.img") == FileLookup::pending);
}

TEST_CASE("a read for a file not yet arrived waits until the file arrives") {
    Fixture f;
    std::shared_ptr<const ImageFile> file;
    const std::string name = "pages-1.img";  // wait_file keeps a reference: must outlive the wait
    auto answer = start(f.io, f.snapshot.wait_file(name, &file));
    settle(f.io);
    CHECK_FALSE(*answer);
    f.snapshot.add_file(make_file("core-1.img", "other"));
    settle(f.io);
    CHECK_FALSE(*answer);  // an unrelated file does not answer it
    f.snapshot.add_file(make_file("pages-1.img", "pages"));
    settle(f.io);
    REQUIRE(*answer);
    CHECK(**answer == FileLookup::present);
    REQUIRE(file);
    CHECK(imgtest::file_bytes(*file) == "pages");
}

TEST_CASE("a read for a file never written waits until the snapshot is complete, then is absent") {
    Fixture f;
    const std::string name = "memfd.img";
    auto answer = start(f.io, f.snapshot.wait_file(name, nullptr));
    settle(f.io);
    CHECK_FALSE(*answer);
    f.snapshot.add_file(make_file("inventory.img", "inv"));
    settle(f.io);
    CHECK_FALSE(*answer);
    f.snapshot.mark_complete();
    settle(f.io);
    REQUIRE(*answer);
    CHECK(**answer == FileLookup::absent);
    CHECK(f.snapshot.lookup("memfd.img") == FileLookup::absent);
}

TEST_CASE("a failed snapshot serves nothing, not even files that arrived intact") {
    Fixture f;
    f.snapshot.add_file(make_file("inventory.img", "inv"));
    const std::string name = "pages-1.img";
    auto waiting = start(f.io, f.snapshot.wait_file(name, nullptr));
    settle(f.io);
    f.snapshot.mark_failed("link lost");
    settle(f.io);
    REQUIRE(*waiting);
    CHECK(**waiting == FileLookup::failed);
    std::shared_ptr<const ImageFile> file;
    CHECK(f.snapshot.lookup("inventory.img", &file) == FileLookup::failed);
    CHECK_FALSE(file);
    CHECK(f.snapshot.lookup("never.img") == FileLookup::failed);
    CHECK(f.snapshot.state() == SnapshotState::failed);
    CHECK(f.snapshot.error() == "link lost");
}

TEST_CASE("the last complete copy of a duplicate name wins") {
    Fixture f;
    f.snapshot.add_file(make_file("mountpoints-1.img", "first copy"));
    f.snapshot.add_file(make_file("mountpoints-1.img", "second"));
    std::shared_ptr<const ImageFile> file;
    REQUIRE(f.snapshot.lookup("mountpoints-1.img", &file) == FileLookup::present);
    CHECK(imgtest::file_bytes(*file) == "second");
    CHECK(f.snapshot.file_count() == 1);
    CHECK(f.snapshot.byte_count() == 6);
}

TEST_CASE("an empty file is present, not absent") {
    Fixture f;
    f.snapshot.add_file(make_file("timens-0.img", ""));
    f.snapshot.mark_complete();
    std::shared_ptr<const ImageFile> file;
    CHECK(f.snapshot.lookup("timens-0.img", &file) == FileLookup::present);
    REQUIRE(file);
    CHECK(file->size == 0);
}

TEST_CASE("a complete snapshot takes no more files and cannot fail afterwards") {
    Fixture f;
    f.snapshot.add_file(make_file("a.img", "a"));
    f.snapshot.mark_complete();
    f.snapshot.add_file(make_file("b.img", "b"));
    CHECK(f.snapshot.lookup("b.img") == FileLookup::absent);
    f.snapshot.mark_failed("too late");
    CHECK(f.snapshot.state() == SnapshotState::complete);
    CHECK(f.snapshot.lookup("a.img") == FileLookup::present);
}

TEST_CASE("a failed snapshot cannot become complete") {
    Fixture f;
    f.snapshot.mark_failed("broken");
    f.snapshot.mark_complete();
    CHECK(f.snapshot.state() == SnapshotState::failed);
    f.snapshot.add_file(make_file("a.img", "a"));
    CHECK(f.snapshot.file_count() == 0);
}

TEST_CASE("waiting for the snapshot to settle ends with complete or failed") {
    SECTION("complete") {
        Fixture f;
        auto settled = start(f.io, f.snapshot.wait_settled());
        settle(f.io);
        CHECK_FALSE(*settled);
        f.snapshot.mark_complete();
        settle(f.io);
        REQUIRE(*settled);
        CHECK(**settled == SnapshotState::complete);
    }
    SECTION("failed") {
        Fixture f;
        auto settled = start(f.io, f.snapshot.wait_settled());
        settle(f.io);
        f.snapshot.mark_failed("x");
        settle(f.io);
        REQUIRE(*settled);
        CHECK(**settled == SnapshotState::failed);
    }
}

TEST_CASE("many readers waiting on different files are each answered when their file arrives") {
    Fixture f;
    std::vector<imgtest::Outcome<FileLookup>> answers;
    std::vector<std::string> names;
    for (int i = 0; i < 20; ++i) names.push_back("f" + std::to_string(i) + ".img");
    for (const auto& name : names)
        answers.push_back(start(f.io, f.snapshot.wait_file(name, nullptr)));
    settle(f.io);
    for (int i = 0; i < 20; i += 2)
        f.snapshot.add_file(make_file("f" + std::to_string(i) + ".img", "x"));
    settle(f.io);
    for (int i = 0; i < 20; ++i) {
        CAPTURE(i);
        if (i % 2 == 0) {
            REQUIRE(*answers[i]);
            CHECK(**answers[i] == FileLookup::present);
        } else {
            CHECK_FALSE(*answers[i]);
        }
    }
    f.snapshot.mark_complete();
    settle(f.io);
    for (int i = 1; i < 20; i += 2) {
        REQUIRE(*answers[i]);
        CHECK(**answers[i] == FileLookup::absent);
    }
}
