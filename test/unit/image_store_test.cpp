// ImageStore: one current snapshot per id; a new dump replaces the old; drop; waiting for an id.
#include "store/image_store.hpp"

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
    ImageStore store{io.get_executor()};
};

}  // namespace

TEST_CASE("begin creates a receiving snapshot that find returns") {
    Fixture f;
    CHECK_FALSE(f.store.find("job1"));
    auto s = f.store.begin("job1", "stream");
    REQUIRE(s);
    CHECK(s->state() == SnapshotState::receiving);
    CHECK(f.store.find("job1") == s);
    CHECK(f.store.all().size() == 1);
}

TEST_CASE("a new dump of the same id replaces and fails an old snapshot still receiving") {
    Fixture f;
    auto old = f.store.begin("job1", "stream");
    old->add_file(make_file("inventory.img", "old"));
    const std::string name = "pages-1.img";  // wait_file keeps a reference: must outlive the wait
    auto waiting = start(f.io, old->wait_file(name, nullptr));
    settle(f.io);
    auto fresh = f.store.begin("job1", "stream");
    settle(f.io);
    CHECK(f.store.find("job1") == fresh);
    CHECK(old->state() == SnapshotState::failed);
    REQUIRE(*waiting);
    CHECK(**waiting == FileLookup::failed);
    CHECK(fresh->lookup("inventory.img") == FileLookup::pending);
    CHECK(f.store.all().size() == 1);
}

TEST_CASE("readers of a replaced complete snapshot keep reading it") {
    Fixture f;
    auto old = f.store.begin("job1", "stream");
    old->add_file(make_file("inventory.img", "old"));
    old->mark_complete();
    auto fresh = f.store.begin("job1", "stream");
    CHECK(old->state() == SnapshotState::complete);
    std::shared_ptr<const ImageFile> file;
    REQUIRE(old->lookup("inventory.img", &file) == FileLookup::present);
    CHECK(imgtest::file_bytes(*file) == "old");
    CHECK(f.store.find("job1") == fresh);
}

TEST_CASE("snapshots of different ids are independent") {
    Fixture f;
    auto a = f.store.begin("a", "stream");
    auto b = f.store.begin("b", "stream");
    a->mark_failed("x");
    CHECK(b->state() == SnapshotState::receiving);
    CHECK(f.store.all().size() == 2);
}

TEST_CASE("drop forgets a snapshot and fails it if it was still receiving") {
    Fixture f;
    auto s = f.store.begin("job1", "stream");
    const std::string name = "x.img";
    auto waiting = start(f.io, s->wait_file(name, nullptr));
    settle(f.io);
    CHECK(f.store.drop("job1"));
    settle(f.io);
    CHECK_FALSE(f.store.find("job1"));
    CHECK(s->state() == SnapshotState::failed);
    REQUIRE(*waiting);
    CHECK(**waiting == FileLookup::failed);
}

TEST_CASE("drop of a complete snapshot leaves its current readers a complete snapshot") {
    Fixture f;
    auto s = f.store.begin("job1", "stream");
    s->mark_complete();
    CHECK(f.store.drop("job1"));
    CHECK(s->state() == SnapshotState::complete);
}

TEST_CASE("drop of an unknown id reports false") {
    Fixture f;
    CHECK_FALSE(f.store.drop("nope"));
}

TEST_CASE("a restore that starts before its dump waits for the snapshot to begin") {
    Fixture f;
    const std::string id = "job1";  // wait_for keeps a reference: must outlive the wait
    auto found = start(f.io, f.store.wait_for(id));
    settle(f.io);
    CHECK_FALSE(*found);
    f.store.begin("other", "stream");
    settle(f.io);
    CHECK_FALSE(*found);
    auto s = f.store.begin("job1", "stream");
    settle(f.io);
    REQUIRE(*found);
    CHECK(**found == s);
}

TEST_CASE("wait_for an existing id returns at once") {
    Fixture f;
    auto s = f.store.begin("job1", "stream");
    const std::string id = "job1";  // wait_for keeps a reference: must outlive the wait
    auto found = start(f.io, f.store.wait_for(id));
    settle(f.io);
    REQUIRE(*found);
    CHECK(**found == s);
}

TEST_CASE("bytes held count stored files and bytes still in flight") {
    Fixture f;
    auto s = f.store.begin("job1", "stream");
    s->add_file(make_file("a.img", std::string(100, 'a')));
    s->bytes_in_flight = 50;
    auto t = f.store.begin("job2", "stream");
    t->add_file(make_file("b.img", std::string(10, 'b')));
    CHECK(f.store.bytes_held() == 160);
    f.store.drop("job2");
    CHECK(f.store.bytes_held() == 150);
}

TEST_CASE("each dump of an id gets the next generation, also after a drop; other ids count apart") {
    Fixture f;
    CHECK(f.store.begin("job1", "stream")->generation() == 1);
    CHECK(f.store.begin("job1", "stream")->generation() == 2);
    CHECK(f.store.begin("job2", "stream")->generation() == 1);
    REQUIRE(f.store.drop("job1"));
    CHECK(f.store.begin("job1", "stream")->generation() == 3);
    CHECK(f.store.find("job1")->generation() == 3);
}

TEST_CASE(
    "drop of a snapshot id takes it out of its img-remote chain; the chain stays for the rest") {
    Fixture f;
    f.store.begin("/img/1", "remote");
    f.store.begin("/img/2", "remote");
    f.store.set_chain("job", {"/img/1", "/img/2"});
    REQUIRE(f.store.drop("/img/1"));
    REQUIRE(f.store.chain("job"));
    CHECK(*f.store.chain("job") == std::vector<std::string>{"/img/2"});
}

TEST_CASE("a chain whose snapshot ids are all dropped is forgotten") {
    Fixture f;
    f.store.begin("/img/1", "remote");
    f.store.begin("/img/2", "remote");
    f.store.set_chain("job", {"/img/1", "/img/2"});
    f.store.begin("/other/1", "remote");
    f.store.set_chain("other", {"/other/1"});
    REQUIRE(f.store.drop("/img/2"));
    REQUIRE(f.store.drop("/img/1"));
    CHECK_FALSE(f.store.chain("job"));
    REQUIRE(f.store.chain("other"));
    CHECK(*f.store.chain("other") == std::vector<std::string>{"/other/1"});
}

TEST_CASE("a chain naming only ids the store no longer holds is forgotten at the next drop") {
    Fixture f;
    f.store.begin("/img/1", "remote");
    f.store.set_chain("job", {"/img/0", "/img/1"});  // /img/0 was never received here
    f.store.begin("/b", "stream");
    REQUIRE(f.store.drop("/img/1"));
    CHECK_FALSE(f.store.chain("job"));
    CHECK(f.store.find("/b"));
}
