// Serving a stored file into CRIU's pipe: every byte arrives, and none depends on memory that
// the cache reuses after the feed has ended (the pipe refers to lent pages while it is fed).
#include "criu/image_feed.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>

#include "asio_helpers.hpp"
#include "criu/fd_passing.hpp"
#include "store_helpers.hpp"
#include "support/temp_dir.hpp"

using namespace imgx;
using namespace std::chrono_literals;

namespace {

std::string random_bytes(std::size_t size, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::string out(size, '\0');
    for (auto& c : out) c = static_cast<char>(rng());
    return out;
}

// Reads `fd` to EOF (at most 20 s). Once `pause_at` bytes are read it waits (at most 10 s) for
// `resume` before reading on, so the feed can end while the rest is still in the pipe.
std::string read_all(int fd, std::size_t pause_at, const std::atomic<bool>& resume) {
    std::string got;
    char buffer[64 * 1024];
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    bool paused = false;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!paused && got.size() >= pause_at) {
            paused = true;
            for (int i = 0; i < 1000 && !resume.load(); ++i) std::this_thread::sleep_for(10ms);
        }
        const std::size_t want =
            paused ? sizeof buffer : std::min(sizeof buffer, pause_at - got.size());
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        const ssize_t n = ::read(fd, buffer, want);
        if (n <= 0) break;
        got.append(buffer, static_cast<std::size_t>(n));
    }
    return got;
}

// The offset of the first byte where the two differ, or -1 when they are equal (keeps failure
// messages readable: the contents are megabytes of random bytes).
long first_difference(const std::string& got, const std::string& want) {
    const std::size_t n = std::min(got.size(), want.size());
    for (std::size_t i = 0; i < n; ++i)
        if (got[i] != want[i]) return static_cast<long>(i);
    return got.size() == want.size() ? -1 : static_cast<long>(n);
}

// Feeds `file` (holding `content`) into a pipe whose reader stops half a pipe before the end
// until the feed has ended and `reuse` has run (it reuses the file's memory as the cache would),
// then checks that every byte arrived as it was.
void check_feed_survives_reuse(std::shared_ptr<const store::ImageFile> file,
                               const std::string& content, int read_fd, int write_fd,
                               std::size_t pipe_bytes, const std::function<void()>& reuse) {
    UniqueFd read_end(read_fd);
    std::atomic<bool> reused{false};
    std::string received;
    std::thread reader(
        [&] { received = read_all(read_end.get(), content.size() - pipe_bytes / 2, reused); });

    boost::asio::io_context io;
    auto written =
        imgtest::start(io, criu::feed_pipe(UniqueFd(write_fd), std::move(file), "test feed"));
    for (int i = 0; i < 200 && !*written; ++i) imgtest::settle(io, 100ms);
    if (*written) reuse();
    reused = true;
    reader.join();

    REQUIRE(written->has_value());
    CHECK(**written == content.size());
    CHECK(received.size() == content.size());
    CHECK(first_difference(received, content) == -1);
}

}  // namespace

TEST_CASE(
    "a file larger than the pipe arrives whole even when its memory is reused right after the "
    "feed") {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    const std::size_t pipe_bytes = criu::enlarge_pipe(fds[1], 1 << 20);
    REQUIRE(pipe_bytes >= 4096);

    const std::string content = random_bytes(4 * pipe_bytes + 12345, 7);
    auto file = imgtest::make_file("pages-1.img", content, 1 << 20);
    // The feed has ended: the cache may now reuse the memory (a dropped snapshot). Scribble it.
    check_feed_survives_reuse(file, content, fds[0], fds[1], pipe_bytes, [&] {
        for (const auto& segment : file->segments)
            std::memset(segment.bytes.get(), 0xEE, segment.size);
    });
}

TEST_CASE("a file no larger than the pipe is written as a copy") {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    UniqueFd read_end(fds[0]);
    const std::string content = random_bytes(3000, 8);
    auto file = imgtest::make_file("core-1.img", content, 1000);
    boost::asio::io_context io;
    auto written = imgtest::start(io, criu::feed_pipe(UniqueFd(fds[1]), file, "test feed"));
    for (int i = 0; i < 100 && !*written; ++i) imgtest::settle(io, 50ms);
    REQUIRE(written->has_value());
    CHECK(**written == content.size());
    std::atomic<bool> go{true};
    CHECK(first_difference(read_all(read_end.get(), content.size(), go), content) == -1);
}

TEST_CASE("a small file that does not fit a shrunken pipe at once arrives whole, in order") {
    // A pipe of one page (as the kernel makes them past pipe-user-pages-soft): the one write of
    // a small file is partial and the feed goes on from there.
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    REQUIRE(::fcntl(fds[1], F_SETPIPE_SZ, 4096) == 4096);
    const std::string content = random_bytes(40000, 10);
    auto file = imgtest::make_file("fdinfo-2.img", content, 7000);
    // The reader starts after the first write, so that write is partial (one page); the feed
    // goes on from there (it enlarges the pipe first).
    std::atomic<bool> go{true};
    std::string received;
    UniqueFd read_end(fds[0]);
    boost::asio::io_context io;
    auto written = imgtest::start(io, criu::feed_pipe(UniqueFd(fds[1]), file, "test feed"));
    imgtest::settle(io, 20ms);
    std::thread reader([&] { received = read_all(read_end.get(), content.size(), go); });
    for (int i = 0; i < 200 && !*written; ++i) imgtest::settle(io, 50ms);
    reader.join();
    REQUIRE(written->has_value());
    CHECK(**written == content.size());
    CHECK(first_difference(received, content) == -1);
}

TEST_CASE("a small file for a reader that already closed ends the feed at once") {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    std::signal(SIGPIPE, SIG_IGN);  // as the daemons do
    ::close(fds[0]);
    auto file = imgtest::make_file("core-3.img", random_bytes(2000, 11), 1000);
    boost::asio::io_context io;
    auto written = imgtest::start(io, criu::feed_pipe(UniqueFd(fds[1]), file, "test feed"));
    for (int i = 0; i < 20 && !*written; ++i) imgtest::settle(io, 50ms);
    REQUIRE(written->has_value());
    CHECK(**written == 0);
}

TEST_CASE("a reader that closes early ends the feed with the bytes it took") {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    const std::size_t pipe_bytes = criu::enlarge_pipe(fds[1], 1 << 20);
    const std::string content = random_bytes(3 * pipe_bytes, 9);
    std::signal(SIGPIPE, SIG_IGN);  // as the daemons do
    auto file = imgtest::make_file("pages-2.img", content, 1 << 20);
    ::close(fds[0]);
    boost::asio::io_context io;
    auto written = imgtest::start(io, criu::feed_pipe(UniqueFd(fds[1]), file, "test feed"));
    for (int i = 0; i < 100 && !*written; ++i) imgtest::settle(io, 50ms);
    REQUIRE(written->has_value());
    CHECK(**written < content.size());
}

TEST_CASE("a file partly in memory and partly in a spool file arrives whole, in order") {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    UniqueFd read_end(fds[0]);
    const std::size_t pipe_bytes = criu::enlarge_pipe(fds[1], 1 << 20);
    imgtest::TempDir spool;
    // The budget holds the first two pieces; the rest goes to the spool file.
    auto budget = std::make_shared<store::MemoryBudget>(2 * 100'000);
    store::ImageFileBuilder builder("pages-1.img", {budget, nullptr, spool.path()});
    const std::string content = random_bytes(3 * pipe_bytes + 777, 10);
    for (std::size_t at = 0; at < content.size(); at += 100'000) {
        const std::size_t n = std::min<std::size_t>(100'000, content.size() - at);
        std::memcpy(builder.prepare_segment(n), content.data() + at, n);
        builder.commit_segment();
    }
    std::string problem;
    auto file =
        builder.finish(content.size(), XXH3_64bits(content.data(), content.size()), problem);
    REQUIRE(file);
    REQUIRE(file->segments.size() == 3);  // two in memory, the rest as one piece of the spool file
    CHECK_FALSE(file->segments[2].bytes);
    CHECK(budget->spilled_bytes == content.size() - 200'000);

    std::atomic<bool> go{true};
    std::string received;
    std::thread reader([&] { received = read_all(read_end.get(), content.size(), go); });
    boost::asio::io_context io;
    auto written = imgtest::start(io, criu::feed_pipe(UniqueFd(fds[1]), file, "test feed"));
    for (int i = 0; i < 200 && !*written; ++i) imgtest::settle(io, 50ms);
    reader.join();
    REQUIRE(written->has_value());
    CHECK(**written == content.size());
    CHECK(first_difference(received, content) == -1);
}

TEST_CASE(
    "a file in pooled blocks arrives whole even when its blocks are taken and overwritten right "
    "after the feed") {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    const std::size_t pipe_bytes = criu::enlarge_pipe(fds[1], 1 << 20);
    REQUIRE(pipe_bytes >= 4096);

    auto pool = std::make_shared<store::BlockPool>(64 * 1024);
    const std::string content = random_bytes(4 * pipe_bytes + 12345, 11);
    auto file = imgtest::make_file("pages-1.img", content, 64 * 1024, pool);
    REQUIRE(pool->blocks_in_use() > 4);
    // The feed has ended: the snapshot goes away, its blocks back to the pool, and the next dump
    // takes them and writes into them.
    std::vector<store::SegmentMemory> next_dump;
    check_feed_survives_reuse(std::move(file), content, fds[0], fds[1], pipe_bytes, [&] {
        while (pool->free_blocks() > 0) {
            next_dump.push_back(pool->take());
            std::memset(next_dump.back().get(), 0xEE, pool->block_bytes());
        }
    });
    CHECK(next_dump.size() > 4);
}

TEST_CASE(
    "a reader that enlarges its pipe mid-feed gets every byte as stored, also when the memory is "
    "reused right after the feed") {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    UniqueFd read_end(fds[0]);
    const std::size_t pipe_bytes = criu::enlarge_pipe(fds[1], 1 << 20);
    REQUIRE(pipe_bytes >= 4096);
    const std::string content = random_bytes(6 * pipe_bytes + 4321, 12);
    auto file = imgtest::make_file("pages-1.img", content, 1 << 20);
    auto reuse = [&] {
        for (const auto& segment : file->segments)
            std::memset(segment.bytes.get(), 0xEE, segment.size);
    };

    boost::asio::io_context io;
    auto written = imgtest::start(io, criu::feed_pipe(UniqueFd(fds[1]), file, "test feed"));
    // The feed fills the pipe with lent pages (each piece in a slot of its own, so a full pipe
    // holds a little less than its size) and waits for room.
    int unread = 0;
    for (int i = 0, before = -1; i < 100 && (unread == 0 || unread != before); ++i) {
        before = unread;
        imgtest::settle(io, 20ms);
        REQUIRE(::ioctl(fds[0], FIONREAD, &unread) == 0);
    }
    REQUIRE(unread > static_cast<int>(pipe_bytes / 2));
    REQUIRE_FALSE(*written);
    // CRIU enlarges its pipe (beyond pipe-max-size, which needs CAP_SYS_RESOURCE).
    const int bigger = ::fcntl(fds[0], F_SETPIPE_SZ, static_cast<int>(8 * pipe_bytes));
    if (bigger < static_cast<int>(content.size())) {
        WARN("cannot enlarge the pipe to " << 8 * pipe_bytes << " bytes: " << std::strerror(errno)
                                           << "; not tested");
        return;
    }
    // bounded poll: the feed has a second to end while nothing is read. If it ends, the cache
    // may reuse the memory at once: whatever lent page is still in the pipe would change.
    for (int i = 0; i < 20 && !*written; ++i) imgtest::settle(io, 50ms);
    std::atomic<bool> reused{false};
    if (*written) {
        reuse();
        reused = true;
    }
    std::string received;
    std::thread reader(
        [&] { received = read_all(read_end.get(), content.size() - pipe_bytes / 2, reused); });
    for (int i = 0; i < 200 && !*written; ++i) imgtest::settle(io, 100ms);
    if (*written && !reused) reuse();
    reused = true;
    reader.join();

    REQUIRE(written->has_value());
    CHECK(**written == content.size());
    CHECK(received.size() == content.size());
    CHECK(first_difference(received, content) == -1);
}
