// The proxy's snapshot sender without sockets: the frames of a dump, and what img-cached's answers
// settle.
#include "proxyd/snapshot_sender.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "link.pb.h"
#include "link/link_codec.hpp"

using namespace imgx;
using link::FrameType;
using proxyd::OutgoingState;

namespace {

// Records what the sender queues, in order.
struct RecordingSink : proxyd::FrameSink {
    struct Chunk {
        std::uint64_t file_tag, offset;
        std::size_t size;
    };
    std::vector<std::string> messages;
    std::vector<Chunk> chunks;

    void send_message(std::string frame) override { messages.push_back(std::move(frame)); }
    void send_chunk(std::uint64_t file_tag, std::uint64_t offset, PooledBuffer, std::size_t size,
                    std::size_t /*original*/) override {
        chunks.push_back({file_tag, offset, size});
    }

    [[nodiscard]] FrameType type_of(std::size_t i) const {
        link::HeaderBytes header;
        std::memcpy(header.data(), messages.at(i).data(), header.size());
        return link::decode_header(header).type;
    }
    template <typename Message>
    [[nodiscard]] Message body_of(std::size_t i) const {
        Message message;
        REQUIRE(message.ParseFromString(messages.at(i).substr(link::kHeaderBytes)));
        return message;
    }
};

std::string body(const google::protobuf::MessageLite& message) {
    return message.SerializeAsString();
}

std::string file_ack(std::uint64_t tag, std::uint64_t size) {
    link::FileAck ack;
    ack.set_file_tag(tag);
    ack.set_size(size);
    return body(ack);
}

std::string result(std::uint64_t tag, bool ok, const std::string& reason = {}) {
    link::SnapshotResult r;
    r.set_snapshot_tag(tag);
    r.set_ok(ok);
    r.set_reason(reason);
    return body(r);
}

struct Fixture {
    boost::asio::io_context io;
    RecordingSink sink;
    proxyd::SnapshotSender sender{io.get_executor(), "cache.example:7000", sink};
};

}  // namespace

TEST_CASE_METHOD(Fixture,
                 "a dump goes out as SNAPSHOT_BEGIN, FILE_BEGIN, chunks at growing offsets, "
                 "FILE_END, SNAPSHOT_END") {
    auto snapshot = sender.begin_snapshot("dump-1", "stream");
    const auto tag = sender.begin_file(snapshot, "pages-1.img");
    sender.send_data(snapshot, tag, {}, 100);
    sender.send_data(snapshot, tag, {}, 50);
    sender.end_file(snapshot, tag, 150, 0x1234);
    sender.end_snapshot(snapshot, 1, 150);

    REQUIRE(sink.messages.size() == 4);
    CHECK(sink.type_of(0) == FrameType::snapshot_begin);
    CHECK(sink.body_of<link::SnapshotBegin>(0).snapshot_id() == "dump-1");
    CHECK(sink.type_of(1) == FrameType::file_begin);
    CHECK(sink.body_of<link::FileBegin>(1).name() == "pages-1.img");
    CHECK(sink.body_of<link::FileBegin>(1).snapshot_tag() == snapshot->tag());
    CHECK(sink.type_of(2) == FrameType::file_end);
    CHECK(sink.body_of<link::FileEnd>(2).size() == 150);
    CHECK(sink.type_of(3) == FrameType::snapshot_end);
    REQUIRE(sink.chunks.size() == 2);
    CHECK(sink.chunks[0].offset == 0);
    CHECK(sink.chunks[1].offset == 100);
    CHECK(sink.chunks[1].file_tag == tag);
    CHECK(snapshot->state() == OutgoingState::sending);
    CHECK(sender.unsettled() == 1);
}

TEST_CASE_METHOD(Fixture,
                 "img-cached's FILE_ACK and SNAPSHOT_RESULT settle the dump and empty the tables") {
    auto snapshot = sender.begin_snapshot("dump-1", "stream");
    const auto tag = sender.begin_file(snapshot, "core-1.img");
    sender.send_data(snapshot, tag, {}, 10);
    sender.end_file(snapshot, tag, 10, 1);
    sender.end_snapshot(snapshot, 1, 10);
    CHECK(sender.files_in_flight() == 1);

    sender.handle_answer(FrameType::file_ack, file_ack(tag, 10));
    CHECK(snapshot->files_acked() == 1);
    CHECK(snapshot->bytes_acked() == 10);
    CHECK(sender.files_in_flight() == 0);

    sender.handle_answer(FrameType::snapshot_result, result(snapshot->tag(), true));
    CHECK(snapshot->state() == OutgoingState::acknowledged);
    CHECK(sender.unsettled() == 0);
}

TEST_CASE_METHOD(Fixture,
                 "a refusing SNAPSHOT_RESULT fails the dump with img-cached's reason; later calls "
                 "send nothing") {
    auto snapshot = sender.begin_snapshot("dump-1", "stream");
    const auto tag = sender.begin_file(snapshot, "core-1.img");
    sender.handle_answer(FrameType::snapshot_result,
                         result(snapshot->tag(), false, "out of memory"));
    CHECK(snapshot->state() == OutgoingState::failed);
    CHECK_THAT(snapshot->error(), Catch::Contains("out of memory"));
    const auto before = sink.messages.size();
    sender.send_data(snapshot, tag, {}, 10);
    sender.end_file(snapshot, tag, 10, 1);
    sender.end_snapshot(snapshot, 1, 10);
    CHECK(sink.messages.size() == before);
    CHECK(sink.chunks.empty());
    CHECK(sender.files_in_flight() == 0);
}

TEST_CASE_METHOD(Fixture, "answers about snapshots and files no longer in the tables are ignored") {
    sender.handle_answer(FrameType::file_ack, file_ack(99, 1));
    sender.handle_answer(FrameType::snapshot_result, result(98, true));
    CHECK(sender.unsettled() == 0);
}

TEST_CASE_METHOD(Fixture, "any other frame from img-cached is a protocol error") {
    CHECK_THROWS_AS(sender.handle_answer(FrameType::file_begin, ""), wire::ProtocolError);
    CHECK_THROWS_AS(sender.handle_answer(FrameType::file_ack, "\xff\xff"), wire::ProtocolError);
}

TEST_CASE_METHOD(Fixture, "aborting tells img-cached once and forgets the dump") {
    auto snapshot = sender.begin_snapshot("dump-1", "stream");
    sender.begin_file(snapshot, "core-1.img");
    sender.abort_snapshot(snapshot, "CRIU went away");
    CHECK(snapshot->state() == OutgoingState::failed);
    CHECK(sink.type_of(sink.messages.size() - 1) == FrameType::snapshot_abort);
    CHECK(sink.body_of<link::SnapshotAbort>(sink.messages.size() - 1).reason() == "CRIU went away");
    CHECK(sender.unsettled() == 0);
    CHECK(sender.files_in_flight() == 0);
    const auto before = sink.messages.size();
    sender.abort_snapshot(snapshot, "again");
    CHECK(sink.messages.size() == before);
}

TEST_CASE_METHOD(Fixture,
                 "a session that ends fails its unsettled dumps; the next session's calls about "
                 "them are no-ops") {
    auto done = sender.begin_snapshot("dump-1", "stream");
    sender.end_snapshot(done, 0, 0);
    sender.handle_answer(FrameType::snapshot_result, result(done->tag(), true));
    auto open = sender.begin_snapshot("dump-2", "stream");
    const auto tag = sender.begin_file(open, "core-1.img");
    const auto session = sender.session();

    sender.fail_session("connection reset");
    CHECK(sender.session() == session + 1);
    CHECK(done->state() == OutgoingState::acknowledged);
    CHECK(open->state() == OutgoingState::failed);
    CHECK_THAT(open->error(),
               Catch::Contains("cache.example:7000") && Catch::Contains("connection reset"));
    CHECK(sender.unsettled() == 0);
    CHECK(sender.files_in_flight() == 0);

    const auto before = sink.messages.size();
    sender.send_data(open, tag, {}, 10);
    sender.end_snapshot(open, 1, 10);
    CHECK(sink.messages.size() == before);
    auto next = sender.begin_snapshot("dump-3", "stream");
    CHECK(next->link_generation() == sender.session());
}

TEST_CASE_METHOD(Fixture, "a refused dump fails at once and sends nothing; tags stay unique") {
    auto refused = sender.refuse_snapshot("dump-1", "stream", "img-cached is unreachable");
    CHECK(refused->state() == OutgoingState::failed);
    CHECK(sink.messages.empty());
    auto next = sender.begin_snapshot("dump-2", "stream");
    CHECK(next->tag() != refused->tag());
    CHECK(sender.begin_file(refused, "x.img") != sender.begin_file(next, "y.img"));
}

TEST_CASE_METHOD(Fixture,
                 "an abort at any step of a file's life sends one SNAPSHOT_ABORT, empties the "
                 "tables, and the next dump goes out whole") {
    // 0: before any file, 1: file begun, 2: mid-data, 3: file ended, 4: file acknowledged,
    // 5: snapshot ended, awaiting its result.
    const int step = GENERATE(0, 1, 2, 3, 4, 5);
    INFO("abort after step " << step);
    auto snapshot = sender.begin_snapshot("dump-1", "stream");
    std::uint64_t tag = 0;
    if (step >= 1) tag = sender.begin_file(snapshot, "pages-1.img");
    if (step >= 2) sender.send_data(snapshot, tag, {}, 100);
    if (step >= 3) sender.end_file(snapshot, tag, 100, 7);
    if (step >= 4) sender.handle_answer(FrameType::file_ack, file_ack(tag, 100));
    if (step >= 5) sender.end_snapshot(snapshot, 1, 100);

    sender.abort_snapshot(snapshot, "replaced by a newer dump of the same snapshot id");
    CHECK(snapshot->state() == OutgoingState::failed);
    int aborts = 0;
    for (std::size_t i = 0; i < sink.messages.size(); ++i)
        aborts += sink.type_of(i) == FrameType::snapshot_abort;
    CHECK(aborts == 1);
    CHECK(sender.unsettled() == 0);
    CHECK(sender.files_in_flight() == 0);

    // Late answers about the aborted dump and calls for it change nothing.
    const auto before = sink.messages.size();
    if (tag) sender.handle_answer(FrameType::file_ack, file_ack(tag, 100));
    sender.handle_answer(FrameType::snapshot_result, result(snapshot->tag(), true));
    sender.send_data(snapshot, tag, {}, 10);
    sender.end_snapshot(snapshot, 1, 100);
    CHECK(sink.messages.size() == before);
    CHECK(snapshot->state() == OutgoingState::failed);

    auto next = sender.begin_snapshot("dump-1", "stream");
    const auto next_tag = sender.begin_file(next, "pages-1.img");
    sender.send_data(next, next_tag, {}, 20);
    sender.end_file(next, next_tag, 20, 9);
    sender.end_snapshot(next, 1, 20);
    sender.handle_answer(FrameType::file_ack, file_ack(next_tag, 20));
    sender.handle_answer(FrameType::snapshot_result, result(next->tag(), true));
    CHECK(next->state() == OutgoingState::acknowledged);
    CHECK(sender.unsettled() == 0);
    CHECK(sender.files_in_flight() == 0);
}
