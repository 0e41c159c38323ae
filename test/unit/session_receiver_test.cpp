// img-cached's session receiver without sockets: link frames into the image store, and every
// file it lets go (abort, failure, replacement, drop, end) gives its memory back at once.
#include "cached/session_receiver.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "receiver_rig.hpp"
#include "wire/frame.hpp"

using namespace imgx;
using imgtest::ReceiverRig;

namespace {

// Where in a file's life the dump is interrupted.
enum class Step { before_file_begin, after_file_begin, mid_data, held_chunks, waiting_for_lanes };
// How it is interrupted.
enum class Interrupt { abort, replace, drop, end };

const char* name_of(Step step) {
    switch (step) {
        case Step::before_file_begin:
            return "before FILE_BEGIN";
        case Step::after_file_begin:
            return "after FILE_BEGIN";
        case Step::mid_data:
            return "mid-data";
        case Step::held_chunks:
            return "with held chunks";
        case Step::waiting_for_lanes:
            return "after FILE_END, waiting for lanes";
    }
    return "?";
}

const char* name_of(Interrupt how) {
    switch (how) {
        case Interrupt::abort:
            return "SNAPSHOT_ABORT";
        case Interrupt::replace:
            return "a new dump of the same id";
        case Interrupt::drop:
            return "img-ctl drop";
        case Interrupt::end:
            return "SNAPSHOT_END";
    }
    return "?";
}

std::string content_of(std::size_t size) {
    std::string out(size, '\0');
    for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>('a' + i % 23);
    return out;
}

// Runs one dump of a three-piece file up to `step`, interrupts it `how`, then sends the frames of
// that file still in flight and checks what the receiver holds after each phase.
void interrupt_file(Step step, Interrupt how) {
    const bool lanes = step == Step::held_chunks || step == Step::waiting_for_lanes;
    ReceiverRig r(4 << 20, lanes ? 2 : 1);
    const std::string content = content_of(3000);
    const auto piece = [&](int n) {
        return content.substr(static_cast<std::size_t>(n) * 1000, 1000);
    };
    r.begin(1, "dump");
    if (step != Step::before_file_begin) r.file_begin(2, 1, "pages-1.img");
    if (step == Step::mid_data) r.data(2, piece(0));
    if (lanes) {
        CHECK_FALSE(r.data_at(2, 0, piece(0), 1, 1));
        CHECK(r.data_at(2, 2000, piece(2), 1, 2));  // held: bytes 1000..2000 are missing
        CHECK(r.memory_used() > 0);
    }
    if (step == Step::waiting_for_lanes) r.file_end(2, content);
    if (step != Step::before_file_begin) CHECK(r.rx.open_files() == 1);

    switch (how) {
        case Interrupt::abort:
            r.abort(1);
            break;
        case Interrupt::replace:
            r.begin(3, "dump");
            break;
        case Interrupt::drop:
            CHECK(r.store.drop("dump"));
            break;
        case Interrupt::end:
            r.end(1, 0, 0);
            break;
    }
    // SNAPSHOT_END while a file waits for its last chunks on other lanes waits too; every other
    // interruption lets the file go at once.
    const bool deferred = how == Interrupt::end && step == Step::waiting_for_lanes;
    if (!deferred) {
        CHECK(r.rx.open_files() == 0);
        CHECK(r.memory_used() == 0);
        if (lanes) CHECK(r.released.size() == 1);  // the held chunk's lane acknowledges it
    }

    // The file's frames still in flight are consumed without ending the session.
    if (step != Step::before_file_begin) {
        if (lanes) {
            REQUIRE_NOTHROW(r.data_at(2, 1000, piece(1), 1, 3));
        } else {
            REQUIRE_NOTHROW(r.data(2, piece(step == Step::mid_data ? 1 : 0)));
            REQUIRE_NOTHROW(r.data_at(2, 2000, piece(2), 1, 4));
        }
        if (step != Step::waiting_for_lanes) REQUIRE_NOTHROW(r.file_end(2, content));
    }
    CHECK(r.rx.open_files() == 0);
    if (how == Interrupt::replace) REQUIRE_NOTHROW(r.abort(1));  // img-proxyd aborts the older
    if (!deferred) {
        CHECK(r.memory_used() == 0);
        if (how == Interrupt::end) REQUIRE(r.results.size() == 1);
        if (how == Interrupt::end && step != Step::before_file_begin)
            CHECK_FALSE(r.results.back().ok());  // "dump ended with 1 files still open"
    }
    CHECK(r.rx.unfinished() <= (how == Interrupt::replace ? 1U : 0U));

    // The session still takes a complete snapshot.
    const std::size_t results = r.results.size();
    r.whole_dump(10, 11, "next", content);
    REQUIRE(r.results.size() == results + 1);
    CHECK(r.results.back().ok());
    CHECK(r.results.back().snapshot_tag() == 10);
    r.store.drop("next");
    r.store.drop("dump");
    CHECK(r.memory_used() == 0);
    CHECK(r.rx.open_files() == 0);
}

}  // namespace

TEST_CASE(
    "a dump interrupted at any step of a file's life gives the file's memory back at once "
    "and the session goes on") {
    for (auto step : {Step::before_file_begin, Step::after_file_begin, Step::mid_data,
                      Step::held_chunks, Step::waiting_for_lanes})
        for (auto how : {Interrupt::abort, Interrupt::replace, Interrupt::drop, Interrupt::end}) {
            INFO(name_of(how) << " " << name_of(step));
            interrupt_file(step, how);
        }
}

TEST_CASE("an aborted dump is forgotten: no result is sent and its later frames are dropped") {
    ReceiverRig r;
    r.begin(1, "dump");
    r.file_begin(2, 1, "pages-1.img");
    r.data(2, content_of(5000));
    CHECK(r.memory_used() >= 5000);
    r.abort(1);
    CHECK(r.results.empty());
    CHECK(r.rx.unfinished() == 0);
    CHECK(r.rx.open_files() == 0);
    CHECK(r.rx.discarded_files() == 1);
    CHECK(r.memory_used() == 0);
    CHECK(r.store.find("dump")->state() == store::SnapshotState::failed);
    REQUIRE_NOTHROW(r.file_end(2, content_of(5000)));
    // A tag never seen stays a protocol error.
    CHECK_THROWS_AS(r.file_end(7, "x"), wire::ProtocolError);
}

TEST_CASE(
    "a drop while a DATA frame is read into a file keeps its builder until the bytes are in") {
    ReceiverRig r;
    r.begin(1, "dump");
    r.file_begin(2, 1, "pages-1.img");
    r.data(2, content_of(4000));
    const std::string more = content_of(1000);
    char* into = r.rx.data_target(2, more.size());
    r.store.drop("dump");
    CHECK(r.rx.open_files() == 0);
    std::memcpy(into, more.data(), more.size());  // the socket read lands in the kept builder
    r.rx.data_arrived();
    CHECK(r.memory_used() == 0);
    REQUIRE_NOTHROW(r.file_end(2, content_of(5000)));
    r.end(1, 1, 5000);
    REQUIRE(r.results.size() == 1);
    CHECK_FALSE(r.results[0].ok());
    CHECK_THAT(r.results[0].reason(), Catch::Contains("dropped by the operator"));
}

TEST_CASE("the record of discarded file tags is bounded") {
    ReceiverRig r;
    r.begin(1, "dump");
    const std::uint64_t files = cached::SessionReceiver::kDiscardedTagsKept + 10;
    for (std::uint64_t tag = 2; tag < 2 + files; ++tag) r.file_begin(tag, 1, "pages-1.img");
    r.abort(1);
    CHECK(r.rx.discarded_files() == cached::SessionReceiver::kDiscardedTagsKept);
    CHECK(r.rx.open_files() == 0);
}
