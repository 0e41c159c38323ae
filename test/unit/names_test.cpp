// Image names, snapshot ids and DIR[=SNAPSHOT] endpoint specs.
#include "util/names.hpp"

#include <catch2/catch.hpp>
#include <stdexcept>

using namespace imgx;

TEST_CASE("the snapshot id of a directory is its last path component") {
    CHECK(snapshot_id_from_dir("/srv/migrate/job1") == "job1");
    CHECK(snapshot_id_from_dir("/srv/migrate/job1/") == "job1");
    CHECK(snapshot_id_from_dir("/srv/migrate/job1///") == "job1");
    CHECK(snapshot_id_from_dir("job2") == "job2");
    CHECK(snapshot_id_from_dir("img/2") == "2");
}

TEST_CASE("a directory without a usable last component gives no snapshot id") {
    CHECK(snapshot_id_from_dir("/") == "");
    CHECK(snapshot_id_from_dir("") == "");
    CHECK(snapshot_id_from_dir(".") == "");
    CHECK(snapshot_id_from_dir("..") == "");
    CHECK(snapshot_id_from_dir("/srv/..") == "");
    CHECK(snapshot_id_from_dir("a/./") == "");
}

TEST_CASE("an endpoint spec without '=' takes its snapshot id from the directory") {
    auto spec = parse_endpoint_spec("/srv/migrate/job1");
    CHECK(spec.dir == "/srv/migrate/job1");
    CHECK(spec.snapshot_id == "job1");
}

TEST_CASE("an endpoint spec DIR=SNAPSHOT names the snapshot explicitly") {
    auto spec = parse_endpoint_spec("/srv/migrate/job1=web-42");
    CHECK(spec.dir == "/srv/migrate/job1");
    CHECK(spec.snapshot_id == "web-42");
}

TEST_CASE("unusable endpoint specs are refused with a one-line message") {
    for (const char* bad : {"", "=id", "/", "/srv/x=", "/srv/..", "/d=a\nb"}) {
        CAPTURE(bad);
        try {
            parse_endpoint_spec(bad);
            FAIL("accepted");
        } catch (const std::invalid_argument& e) {
            CHECK(std::string(e.what()).find('\n') == std::string::npos);
        }
    }
}

TEST_CASE("image names are bare file names of bounded length") {
    CHECK_FALSE(image_name_problem("inventory.img"));
    CHECK_FALSE(image_name_problem(std::string(kMaxImageNameBytes, 'x')));
    CHECK(image_name_problem(""));
    CHECK(image_name_problem("."));
    CHECK(image_name_problem(".."));
    CHECK(image_name_problem("a/b"));
    CHECK(image_name_problem("../x"));
    CHECK(image_name_problem(std::string("a\0b", 3)));
    CHECK(image_name_problem("a\x1f"));
    CHECK(image_name_problem(std::string(kMaxImageNameBytes + 1, 'x')));
}

TEST_CASE("snapshot ids may contain slashes (CRIU's -D string) but no control characters") {
    CHECK_FALSE(snapshot_id_problem("/srv/migrate/job3"));
    CHECK(snapshot_id_problem(""));
    CHECK(snapshot_id_problem("a\nb"));
    CHECK_FALSE(snapshot_id_problem(std::string(kMaxSnapshotIdBytes, 'x')));
    CHECK(snapshot_id_problem(std::string(kMaxSnapshotIdBytes + 1, 'x')));
}
