// img-cached's session receiver without sockets: link frames into the image store, and every
// file it lets go (abort, failure, replacement, drop, end) gives its memory back at once.
#include "cached/session_receiver.hpp"

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "cached/state_dir.hpp"
#include "receiver_rig.hpp"
#include "store/file_ops.hpp"
#include "store_helpers.hpp"
#include "support/temp_dir.hpp"
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

namespace {

// State directory faults (store::file_ops): the call fails with `fault_errno`.
int fault_errno = 0;
ssize_t failing_pwrite(int, const void*, std::size_t, off_t) {
    errno = fault_errno;
    return -1;
}
int failing_fdatasync(int) {
    errno = fault_errno;
    return -1;
}
int failing_rename(const char*, const char*) {
    errno = fault_errno;
    return -1;
}

enum class DiskCall { write, fdatasync, rename };

std::size_t entries(const std::string& dir) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
    return n;
}

// A dump into a state directory whose `call` fails with `error`, beside a complete snapshot.
void disk_fault(DiskCall call, int error) {
    imgtest::TempDir dir;
    const std::string state = dir.path() + "/state";
    ReceiverRig r(4 << 20, 1, std::make_unique<cached::StateDir>(state));
    const std::string kept = content_of(2000);
    r.whole_dump(1, 2, "kept", kept);
    REQUIRE(r.results.back().ok());

    const store::FileOpsRestore restore;
    fault_errno = error;
    const std::string content = content_of(3000);
    r.begin(3, "bad");
    r.file_begin(4, 3, "pages-1.img");
    if (call == DiskCall::write) store::file_ops.pwrite = failing_pwrite;
    r.data(4, content);
    if (call == DiskCall::fdatasync) store::file_ops.fdatasync = failing_fdatasync;
    if (call == DiskCall::rename) store::file_ops.rename = failing_rename;
    r.file_end(4, content);
    store::file_ops = store::FileOps{};

    // The dump fails with a reason naming the snapshot, the file and the error, at once.
    REQUIRE(r.results.size() == 2);
    CHECK_FALSE(r.results.back().ok());
    CHECK(r.results.back().snapshot_tag() == 3);
    CHECK_THAT(r.results.back().reason(), Catch::Contains("snapshot 'bad'") &&
                                              Catch::Contains("pages-1.img") &&
                                              Catch::Contains(std::strerror(error)));
    CHECK(r.store.find("bad")->state() == store::SnapshotState::failed);
    CHECK(r.rx.open_files() == 0);
    // Nothing half-written is left on disk; the complete snapshot stays served.
    CHECK(entries(state + "/partial") == 0);
    CHECK(entries(state + "/snapshots") == 1);
    std::shared_ptr<const store::ImageFile> file;
    REQUIRE(r.store.find("kept")->lookup("inventory.img", &file) == store::FileLookup::present);
    CHECK(imgtest::file_bytes(*file) == kept);
    file.reset();  // a reader's hold on its memory
    // The rest of the dump is consumed; the session takes the next dump.
    REQUIRE_NOTHROW(r.end(3, 1, content.size()));
    CHECK_FALSE(r.results.back().ok());
    r.whole_dump(5, 6, "next", content);
    CHECK(r.results.back().ok());
    CHECK(entries(state + "/snapshots") == 2);
    for (const char* id : {"kept", "bad", "next"}) r.store.drop(id);
    CHECK(r.memory_used() == 0);
}

}  // namespace

TEST_CASE(
    "fault: state directory write, fdatasync or rename fails (ENOSPC, EIO) -> that snapshot "
    "fails with the reason, others stay served",
    "[fault]") {
    for (auto call : {DiskCall::write, DiskCall::fdatasync, DiskCall::rename})
        for (int error : {ENOSPC, EIO}) {
            INFO("call " << static_cast<int>(call) << ", " << std::strerror(error));
            disk_fault(call, error);
        }
}

namespace {

// What a peer makes img-cached hold: stored bytes and waiting chunks, within the budget plus the
// stated allowance.
void check_within_budget(const ReceiverRig& r) {
    const auto& memory = r.store.memory();
    CHECK(memory.used() + memory.waiting_beyond() <=
          memory.limit() + cached::SessionReceiver::kWaitingBeyondBudget);
}

}  // namespace

TEST_CASE(
    "fault: DATA_AT for ten thousand file tags not begun -> the peer is refused, memory "
    "bounded",
    "[fault]") {
    ReceiverRig r(4 << 20, 2);
    r.begin(1, "dump");
    const std::string chunk = content_of(1000);
    std::uint64_t tag = 2;
    CHECK_THROWS_WITH(
        [&] {
            for (; tag < 10'002; ++tag) {
                r.data_at(tag, 0, chunk, 1, tag);
                check_within_budget(r);
            }
        }(),
        Catch::Contains("before its FILE_BEGIN") && Catch::Contains("at most 64"));
    CHECK(tag == 2 + cached::SessionReceiver::kMaxEarlyFiles);
    r.rx.fail_unfinished("refused");
    CHECK(r.rx.waiting_bytes() == 0);
    CHECK(r.memory_used() == 0);
    CHECK(r.store.memory().waiting() == 0);
}

TEST_CASE(
    "fault: large DATA_AT chunks for files not begun -> refused beyond the budget plus the "
    "allowance",
    "[fault]") {
    ReceiverRig r(4 << 20, 2);
    const std::string chunk = content_of(1 << 20);
    std::uint64_t held = 0;
    CHECK_THROWS_WITH(
        [&] {
            for (std::uint64_t tag = 2; tag < 60; ++tag) {
                r.data_at(tag, 0, chunk, 1, tag);
                held += chunk.size();
                check_within_budget(r);
            }
        }(),
        Catch::Contains("refused") && Catch::Contains("file tag"));
    CHECK(held >= 4 << 20);  // the budget was used first
    CHECK(held <= (4 << 20) + cached::SessionReceiver::kWaitingBeyondBudget);
    r.rx.fail_unfinished("refused");
    CHECK(r.store.memory().waiting() == 0);
    CHECK(r.memory_used() == 0);
}

TEST_CASE(
    "fault: DATA_AT chunks far ahead of a gap -> refused once over the budget, naming the "
    "snapshot and file",
    "[fault]") {
    ReceiverRig r(4 << 20, 2);
    r.begin(1, "dump");
    r.file_begin(2, 1, "pages-1.img");
    const std::string chunk = content_of(1 << 20);
    std::uint64_t frame = 1;
    CHECK_THROWS_WITH(
        [&] {
            for (std::uint64_t offset = 1 << 20; offset < (64U << 20); offset += chunk.size()) {
                const bool held = r.data_at(2, offset, chunk, 1, frame++);
                if (!held) FAIL("a chunk ahead of the gap was not held");  // byte 0 never came
                check_within_budget(r);
            }
        }(),
        Catch::Contains("snapshot 'dump' file pages-1.img") && Catch::Contains("refused"));
    CHECK(frame > 4);
    r.rx.fail_unfinished("refused");
    CHECK(r.store.memory().waiting() == 0);
    CHECK(r.memory_used() == 0);
}

TEST_CASE("held chunks count against the budget only while they wait") {
    ReceiverRig r(4 << 20, 2);
    r.begin(1, "dump");
    const std::string content = content_of(3000);
    CHECK(r.data_at(2, 2000, content.substr(2000), 1, 1));  // before FILE_BEGIN
    r.file_begin(2, 1, "inventory.img");
    CHECK(r.data_at(2, 1000, content.substr(1000, 1000), 1, 2));
    CHECK(r.rx.waiting_bytes() == 2000 + 2 * cached::SessionReceiver::kWaitingChunkOverhead);
    CHECK_FALSE(r.data_at(2, 0, content.substr(0, 1000), 1, 3));
    CHECK(r.rx.waiting_bytes() == 0);
    CHECK(r.store.memory().waiting() == 0);
    r.file_end(2, content);
    r.end(1, 1, content.size());
    REQUIRE(r.results.size() == 1);
    CHECK(r.results[0].ok());
    r.store.drop("dump");
    CHECK(r.memory_used() == 0);
}

TEST_CASE("an empty DATA_AT chunk adds nothing (found by the session_receiver fuzz target)") {
    ReceiverRig r(4 << 20, 2);
    r.begin(1, "dump");
    r.file_begin(2, 1, "inventory.img");
    CHECK_FALSE(r.data_at(2, 0, ""));  // an empty vector: its data() is null
    const std::string content = content_of(100);
    CHECK_FALSE(r.data_at(2, 0, content, 1, 2));
    r.file_end(2, content);
    REQUIRE(r.acks.size() == 1);
    CHECK(r.acks[0].size() == 100);
}

TEST_CASE("a stream dump that ends without inventory.img fails: CRIU did not finish it") {
    ReceiverRig r;
    const std::string content = content_of(1000);
    r.whole_dump(1, 2, "dump", content, "pages-1.img");
    REQUIRE(r.results.size() == 1);
    CHECK_FALSE(r.results[0].ok());
    CHECK_THAT(r.results[0].reason(), Catch::Contains("dump ended without inventory.img"));
    CHECK(r.store.find("dump")->state() == store::SnapshotState::failed);
    CHECK(r.acks.size() == 1);  // the file itself was fine

    r.whole_dump(3, 4, "dump", content);  // inventory.img
    CHECK(r.results.back().ok());
    CHECK(r.store.find("dump")->state() == store::SnapshotState::complete);
}

TEST_CASE("an img-remote dump needs no inventory.img") {
    ReceiverRig r;
    imgx::link::SnapshotBegin begin;
    begin.set_snapshot_tag(1);
    begin.set_snapshot_id("job1");
    begin.set_protocol("remote");
    begin.set_chain("job1");
    begin.add_chain_ids("job1");
    r.rx.on_message(imgx::link::FrameType::snapshot_begin, begin.SerializeAsString());
    const std::string content = content_of(1000);
    r.file_begin(2, 1, "pages-1.img");
    r.data(2, content);
    r.file_end(2, content);
    r.end(1, 1, content.size());
    REQUIRE(r.results.size() == 1);
    CHECK(r.results[0].ok());
}

TEST_CASE(
    "an abort that crosses the snapshot's result on the link is ignored; an unknown tag is not") {
    // img-proxyd replaces a dump whose SNAPSHOT_RESULT is still on its way: its SNAPSHOT_ABORT
    // names a snapshot img-cached has ended.
    ReceiverRig r;
    r.whole_dump(1, 2, "dump", content_of(1000));
    REQUIRE(r.results.size() == 1);
    CHECK_NOTHROW(r.abort(1, "replaced by a newer dump of the same snapshot id"));
    CHECK(r.store.find("dump")->state() == store::SnapshotState::complete);
    r.whole_dump(3, 4, "dump", content_of(500));
    CHECK(r.results.back().ok());
    CHECK_THROWS_AS(r.abort(99), wire::ProtocolError);
}
