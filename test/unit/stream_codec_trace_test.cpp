// The stream codec against every frame recorded from real CRIU 4.2 (shared/criu-traces, G4).
#include <catch2/catch.hpp>
#include <cstring>

#include "criu/stream_codec.hpp"
#include "support/trace_manifest.hpp"
#include "wire/frame.hpp"

using namespace imgx;
using namespace imgtest;

namespace {

std::uint32_t length_of(const std::string& frame) {
    unsigned char bytes[wire::kLengthBytes];
    std::memcpy(bytes, frame.data(), sizeof bytes);
    return wire::decode_length(bytes);
}

void check_connection(const std::vector<TraceEvent>& events) {
    for (const auto& e : events) {
        CAPTURE(e.seq, e.type, hex_encode(e.frame));
        if (e.type == "frame_received") {
            REQUIRE(e.frame.size() >= wire::kLengthBytes);
            CHECK(length_of(e.frame) == e.frame.size() - wire::kLengthBytes);
            REQUIRE(e.decoded_name);
            CHECK(criu::decode_stream_request(e.frame.substr(wire::kLengthBytes)) ==
                  *e.decoded_name);
            CHECK(criu::encode_stream_request(*e.decoded_name) == e.frame);
        } else if (e.type == "frame_sent") {
            REQUIRE(e.decoded_exists);
            CHECK(criu::stream_reply_frame(*e.decoded_exists) == e.frame);
            CHECK(criu::decode_stream_reply(e.frame.substr(wire::kLengthBytes)) ==
                  *e.decoded_exists);
        }
    }
}

}  // namespace

TEST_CASE("every recorded G4 request and reply frame decodes and re-encodes byte for byte") {
    const auto scenarios = g4_scenarios_or_skip();
    for (const auto& dir : scenarios) {
        const auto trace = load_g4_trace(dir);
        CAPTURE(trace.scenario);
        std::size_t frames = 0;
        for (const auto* events : {&trace.dump_events, &trace.restore_events})
            for (const auto& e : *events)
                frames += e.type == "frame_received" || e.type == "frame_sent";
        CHECK(frames > 0);
        check_connection(trace.dump_events);
        check_connection(trace.restore_events);
    }
}
