// The recorded img-remote run (g3-counter) through img-proxyd and img-cached, as G3, G2 and G1.
#include <catch2/catch.hpp>

#include "remote/g3_replay.hpp"
#include "remote/remote_pair.hpp"
#include "support/trace_manifest.hpp"

using namespace imgtest;
using namespace imgtest::remote;

namespace {

constexpr auto kTimeout = seconds(60);
const std::string kScenario = "g3-counter";
// The daemons' endpoint directory; the snapshot id stays the recorded -D (/srv/migrate/job3).
const std::string kDir = "job3";

void replay_both(Generation generation, std::vector<std::string> cache_args,
                 std::vector<std::string> proxy_args) {
    const auto trace = load_g3_trace_or_skip(kScenario);
    PairOptions options;
    options.snapshots = {kDir};
    options.cache_args = std::move(cache_args);
    options.proxy_args = std::move(proxy_args);
    DaemonPair pair(options);
    await_remote_sockets(pair, {kDir});

    const auto dumped =
        replay_dump(trace, proxy_socket(pair, kDir), generation, deadline_in(kTimeout));
    INFO(to_string(generation) << " dump: " << dumped);
    REQUIRE(dumped.empty());

    // img-ctl wait on the cache: the snapshot is complete once the finish has been forwarded.
    auto waited = pair.ctl(Side::cache, {"wait", trace.images_dir});
    INFO("img-ctl wait: " << waited.out << waited.err);
    CHECK(waited.exit_status == 0);

    const auto restored =
        replay_restore(trace, cache_socket(pair, kDir), generation, deadline_in(kTimeout));
    INFO(to_string(generation) << " restore: " << restored);
    CHECK(restored.empty());
}

}  // namespace

TEST_CASE(
    "g3-counter replayed as G3: every reply, pull list and image byte-identical to the recording") {
    replay_both(Generation::g3, {}, {});
}

TEST_CASE(
    "g3-counter replayed as G2: image bytes on the sockets, cache with --remote-data=socket") {
    replay_both(Generation::g2, {"--remote-data", "socket"}, {"--remote-data", "socket"});
}

TEST_CASE("g3-counter replayed as G1: null control ids, DUMP_FINISH and RESTORE_FINISH") {
    replay_both(Generation::g1, {"--remote-data", "socket"}, {"--remote-data", "socket"});
}

TEST_CASE("g3-counter replayed as G3 over four link lanes: byte-identical") {
    replay_both(Generation::g3, {}, {"--link-streams", "4"});
}

TEST_CASE("the client's image and control frames equal every frame CRIU sent in g3-counter") {
    const auto trace = load_g3_trace_or_skip(kScenario);
    int compared = 0;
    for (const auto& c : trace.connections) {
        for (const auto& e : c.events) {
            if (e.type != "frame_received") continue;
            std::string mine;
            if (c.kind == "push_snapshot_id")
                mine = e.seq == c.events[1].seq ? push_header_frame(Generation::g3)
                                                : snapshot_id_entry_frame(trace.images_dir);
            else if (c.kind == "pull_snapshot_ids")
                mine = pull_frame(Generation::g3);
            else if (c.kind == "finish_dump")
                mine = dump_finish_frame(Generation::g3);
            else if (c.kind == "finish_restore")
                mine = restore_finish_frame(Generation::g3);
            else
                mine = local_image_entry_frame(c.name, c.snapshot_id, c.open_mode);
            INFO("connection " << c.index << " " << c.kind << " " << c.name);
            CHECK(hex_encode(mine) == hex_encode(e.frame));
            ++compared;
        }
    }
    CHECK(compared == 53);
}
