// img-cached's SNAPSHOT_BEGIN checks: snapshot ids and img-remote chain names from the link.
#include <catch2/catch.hpp>
#include <string>

#include "cached/session_receiver.hpp"
#include "link.pb.h"
#include "util/names.hpp"
#include "wire/frame.hpp"

using imgx::cached::SessionReceiver;

namespace {

struct Fixture {
    boost::asio::io_context io;
    imgx::store::ImageStore store{io.get_executor()};
    SessionReceiver receiver{store, [](imgx::link::FrameType, const auto&) {}};

    Fixture() { receiver.set_peer("10.0.0.7:40000"); }

    void begin(std::uint64_t tag, const std::string& id, const std::string& chain) {
        imgx::link::SnapshotBegin begin;
        begin.set_snapshot_tag(tag);
        begin.set_snapshot_id(id);
        begin.set_protocol("remote");
        begin.set_chain(chain);
        begin.add_chain_ids(id);
        receiver.on_message(imgx::link::FrameType::snapshot_begin, begin.SerializeAsString());
    }
};

}  // namespace

TEST_CASE("an img-remote chain name is taken from the link and keys the chain table") {
    Fixture f;
    f.begin(1, "/img/1", "job");
    REQUIRE(f.store.chain("job"));
    CHECK(*f.store.chain("job") == std::vector<std::string>{"/img/1"});
}

TEST_CASE(
    "an img-remote chain name that could not be a snapshot id is a protocol error naming the "
    "peer") {
    Fixture f;
    const std::string too_long(imgx::kMaxSnapshotIdBytes + 1, 'c');
    for (const std::string& chain : {std::string(), std::string("jo\nb"), too_long}) {
        INFO("chain name of " << chain.size() << " bytes");
        try {
            f.begin(1, "/img/1", chain);
            FAIL("accepted");
        } catch (const imgx::wire::ProtocolError& e) {
            const std::string what = e.what();
            CHECK(what.find("10.0.0.7:40000") != std::string::npos);
            CHECK(what.find("chain name") != std::string::npos);
        }
        CHECK_FALSE(f.store.chain(chain));
    }
}
