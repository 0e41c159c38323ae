// img-ctl wait: the request it sends, old form or with a minimum generation, and reading a status.
#include <catch2/catch.hpp>

#include "ctl/wait_request.hpp"

using namespace imgx;

TEST_CASE("a wait without a generation is the old request, which older daemons understand") {
    const auto r = ctl::wait_request("job1", 0);
    CHECK(r.what_case() == control::Request::kWait);
    CHECK(r.wait() == "job1");
}

TEST_CASE("a wait with a generation names the id and the least generation") {
    const auto r = ctl::wait_request("job1", 4);
    REQUIRE(r.what_case() == control::Request::kWaitFor);
    CHECK(r.wait_for().snapshot_id() == "job1");
    CHECK(r.wait_for().min_generation() == 4);
}

TEST_CASE("the generation of an id in a status answer, 0 when the daemon holds none") {
    control::Response status;
    auto* a = status.add_snapshots();
    a->set_snapshot_id("job1");
    a->set_generation(3);
    auto* b = status.add_snapshots();
    b->set_snapshot_id("job2");
    b->set_generation(1);
    CHECK(ctl::generation_in(status, "job1") == 3);
    CHECK(ctl::generation_in(status, "job2") == 1);
    CHECK(ctl::generation_in(status, "job3") == 0);
}
