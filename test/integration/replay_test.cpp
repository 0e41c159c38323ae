// Recorded real CRIU 4.2 runs (shared/criu-traces/g4-*) replayed through img-proxyd and img-cached.
#include <catch2/catch.hpp>

#include "support/criu_client.hpp"
#include "support/daemon_pair.hpp"
#include "support/trace_replay.hpp"

using namespace imgtest;

namespace {

std::vector<Trace> load_all() {
    std::vector<Trace> traces;
    for (const auto& dir : g4_scenarios_or_skip()) traces.push_back(load_g4_trace(dir));
    return traces;
}

}  // namespace

TEST_CASE("every recorded G4 dump is restored byte for byte with exactly the recorded answers") {
    for (const auto& trace : load_all()) {
        SECTION(trace.scenario) {
            DaemonPair pair({.snapshots = {trace.snapshot_id()}});
            replay_dump(trace, pair.capture_dir(trace.snapshot_id()), {});
            replay_restore(trace, pair.serve_dir(trace.snapshot_id()));
        }
    }
}

TEST_CASE(
    "the proxy drains every open dump pipe concurrently (images written only at their EOF "
    "position)") {
    for (const auto& trace : load_all()) {
        SECTION(trace.scenario) {
            DaemonPair pair({.snapshots = {trace.snapshot_id()}});
            replay_dump(trace, pair.capture_dir(trace.snapshot_id()),
                        {.style = DumpStyle::at_eof_single_threaded, .timeout = seconds(30)});
            replay_restore(trace, pair.serve_dir(trace.snapshot_id()));
        }
    }
}

TEST_CASE("EOF on the dump socket before the pipes' EOF does not end the dump") {
    for (const auto& trace : load_all()) {
        SECTION(trace.scenario) {
            const auto id = trace.snapshot_id();
            DaemonPair pair({.snapshots = {id}});
            std::optional<StreamRestoreSession> early;
            Answer early_answer = Answer::no_answer;
            DumpReplayOptions options{.style = DumpStyle::socket_closes_first};
            options.after_socket_close = [&] {
                // Every pipe is still open: no file is complete, so a restore must still wait.
                early.emplace(pair.serve_dir(id));
                early->send_request("inventory.img");
                early_answer = early->read_reply(deadline_in(milliseconds(1500))).answer;
            };
            replay_dump(trace, pair.capture_dir(id), options);
            INFO("a request for inventory.img while its pipe was open got: "
                 << to_string(early_answer));
            CHECK(early_answer == Answer::no_answer);
            early.reset();  // that restore disconnects while waiting
            replay_restore(trace, pair.serve_dir(id));
        }
    }
}
