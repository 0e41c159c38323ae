// img-proxyd's img-remote chain table and connection order without sockets: pushes, announcements
// waiting for the link, writes, parent reads, finish, and replace/drop/move at every step.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <deque>
#include <string>
#include <vector>

#include "asio_helpers.hpp"
#include "proxyd/connection_order.hpp"
#include "proxyd/remote_chains.hpp"
#include "proxyd/snapshot_registry.hpp"
#include "store_helpers.hpp"
#include "util/async_event.hpp"

using namespace imgx;
namespace asio = boost::asio;
using proxyd::OutgoingSnapshot;
using proxyd::ParentRead;
using proxyd::WriteTarget;

namespace {

// The link as RemoteChains sees it: announcements wait while it is down; every frame is recorded.
struct RecordingLink : proxyd::SnapshotLink {
    explicit RecordingLink(asio::io_context& io) : io_(io), up_changed_(io.get_executor()) {}

    asio::awaitable<std::shared_ptr<OutgoingSnapshot>> begin_snapshot(
        const std::string& id, const std::string& protocol, const std::string& chain,
        const std::vector<std::string>& chain_ids, std::function<bool()> wanted) override {
        while (!up_) co_await up_changed_.wait();
        if (wanted && !wanted()) co_return nullptr;
        sent.push_back(fmt::format("begin {} on {} [{}]", id, chain, fmt::join(chain_ids, ",")));
        co_return std::make_shared<OutgoingSnapshot>(io_.get_executor(), id, protocol, ++tags_, 1);
    }
    void end_snapshot(const std::shared_ptr<OutgoingSnapshot>& snapshot, std::uint32_t files,
                      std::uint64_t) override {
        sent.push_back(fmt::format("end {} ({} files)", snapshot->id(), files));
        snapshot->mark_sending();
    }
    void abort_snapshot(const std::shared_ptr<OutgoingSnapshot>& snapshot,
                        const std::string& reason) override {
        sent.push_back("abort " + snapshot->id());
        snapshot->mark_failed(reason);
    }

    void set_up(bool up) {
        up_ = up;
        up_changed_.notify();
    }

    std::vector<std::string> sent;

  private:
    asio::io_context& io_;
    bool up_ = true;
    std::uint64_t tags_ = 0;
    AsyncEvent up_changed_;
};

template <class T>
using Outcome = imgtest::Outcome<T>;

Outcome<bool> run(asio::io_context& io, asio::awaitable<void> work) {
    return imgtest::start(io, [](asio::awaitable<void> w) -> asio::awaitable<bool> {
        co_await std::move(w);
        co_return true;
    }(std::move(work)));
}

struct Rig {
    explicit Rig(std::uint64_t budget = 1 << 20)
        : chains(io.get_executor(), link, registry, budget) {}

    // The chain table's coroutines take their strings by reference: keep them alive here.
    const std::string& keep(std::string s) { return strings.emplace_back(std::move(s)); }

    // A push as a remote capture makes it: recorded at once, announced when the link lets it.
    Outcome<bool> push(const std::string& chain, const std::string& id) {
        const auto number = chains.record_push(chain, id);
        auto done = run(io, chains.announce(keep(chain), keep(id), number));
        imgtest::settle(io);
        return done;
    }
    Outcome<WriteTarget> write_target(const std::string& chain, const std::string& id) {
        auto target = imgtest::start(io, chains.for_write(keep(chain), keep(id)));
        imgtest::settle(io);
        return target;
    }
    Outcome<ParentRead> read(const std::string& id, const std::string& name) {
        auto answer = imgtest::start(io, chains.read_parent(keep(id), keep(name)));
        imgtest::settle(io);
        return answer;
    }
    Outcome<bool> finish(const std::string& chain) {
        auto done = run(io, chains.finish(keep(chain)));
        imgtest::settle(io);
        return done;
    }
    // A whole image write of `name` with `content`, as RemoteCapture does it.
    void write(const WriteTarget& target, const std::string& name, const std::string& content) {
        chains.write_started(target.outgoing->id(), name);
        REQUIRE(chains.reserve(target.outgoing->id(), content.size()));
        chains.write_ended(target, name, imgtest::make_file(name, content), content.size());
        imgtest::settle(io);
    }

    asio::io_context io;
    RecordingLink link{io};
    proxyd::SnapshotRegistry registry{io.get_executor()};
    proxyd::RemoteChains chains;
    std::deque<std::string> strings;
};

using Answer = ParentRead::Answer;

}  // namespace

TEST_CASE(
    "pushes are announced in order with their chain, kept for parent reads, ended at finish") {
    Rig rig;
    REQUIRE(*rig.push("c1", "a"));
    REQUIRE(*rig.push("c1", "b"));
    CHECK(rig.link.sent == std::vector<std::string>{"begin a on c1 [a]", "begin b on c1 [a,b]"});
    CHECK(rig.chains.ids("c1") == std::vector<std::string>{"a", "b"});
    REQUIRE(rig.registry.find("a"));

    auto target = rig.write_target("c1", "a");
    REQUIRE(*target);
    REQUIRE((*target)->kept);
    CHECK((*target)->outgoing == rig.registry.find("a"));
    rig.write(**target, "pages-1.img", "page bytes");
    CHECK(rig.chains.bytes_held() == 10);

    auto parent = rig.read("a", "pages-1.img");
    REQUIRE(*parent);
    CHECK((*parent)->answer == Answer::present);
    CHECK(imgtest::file_bytes(*(*parent)->file) == "page bytes");
    CHECK(rig.read("a", "core-1.img")->value().answer == Answer::absent);

    REQUIRE(*rig.finish("c1"));
    CHECK(rig.link.sent.back() == "end b (0 files)");
    CHECK(rig.link.sent.at(2) == "end a (0 files)");
    CHECK(rig.chains.ids("c1").empty());
    CHECK(rig.chains.bytes_held() == 0);
    CHECK(rig.read("a", "pages-1.img")->value().answer == Answer::absent);
}

TEST_CASE("a parent read waits while its image is being written, and finish waits for writes") {
    Rig rig;
    rig.push("c1", "a");
    auto target = rig.write_target("c1", "a");
    REQUIRE(*target);
    rig.chains.write_started("a", "pages-1.img");
    auto parent = rig.read("a", "pages-1.img");
    auto finished = rig.finish("c1");
    CHECK_FALSE(*parent);
    CHECK_FALSE(*finished);
    CHECK(rig.link.sent.size() == 1);  // no end while a write drains

    REQUIRE(rig.chains.reserve("a", 3));
    rig.chains.write_ended(**target, "pages-1.img", imgtest::make_file("pages-1.img", "abc"), 3);
    imgtest::settle(rig.io);
    REQUIRE(*parent);
    CHECK((*parent)->answer == Answer::present);
    REQUIRE(*finished);
    CHECK(rig.link.sent.back() == "end a (0 files)");
}

TEST_CASE("a write without a push first pushes its id implicitly") {
    Rig rig;
    auto target = rig.write_target("c1", "a");
    REQUIRE(*target);
    CHECK((*target)->outgoing->state() == proxyd::OutgoingState::capturing);
    CHECK(rig.link.sent == std::vector<std::string>{"begin a on c1 [a]"});
    CHECK(rig.chains.ids("c1") == std::vector<std::string>{"a"});
}

TEST_CASE(
    "a push again replaces the old dump, which is aborted only after the new one is "
    "announced") {
    Rig rig;
    rig.push("c1", "a");
    auto old_target = rig.write_target("c1", "a");
    REQUIRE(*old_target);

    rig.link.set_up(false);
    auto second = rig.push("c1", "a");
    CHECK_FALSE(*second);
    // img-cached must never hold `a` as failed while the new dump is not announced yet.
    CHECK(rig.link.sent == std::vector<std::string>{"begin a on c1 [a]"});
    CHECK_FALSE(rig.chains.current(**old_target));

    rig.link.set_up(true);
    imgtest::settle(rig.io);
    REQUIRE(*second);
    CHECK(rig.link.sent ==
          std::vector<std::string>{"begin a on c1 [a]", "begin a on c1 [a]", "abort a"});
    CHECK(rig.chains.ids("c1") == std::vector<std::string>{"a"});

    // A write of the replaced push completes, but its image is let go with its memory.
    rig.write(**old_target, "pages-1.img", "old");
    CHECK(rig.chains.bytes_held() == 0);
    CHECK(rig.read("a", "pages-1.img")->value().answer == Answer::absent);
}

TEST_CASE("a push replaced while its announcement waits for the link announces nothing") {
    Rig rig;
    rig.link.set_up(false);
    auto first = rig.push("c1", "a");
    auto second = rig.push("c1", "a");
    rig.link.set_up(true);
    imgtest::settle(rig.io);
    REQUIRE(*first);
    REQUIRE(*second);
    CHECK(rig.link.sent == std::vector<std::string>{"begin a on c1 [a]"});
}

TEST_CASE("an id pushed on another chain moves there, and its push on the old chain is aborted") {
    Rig rig;
    rig.push("c1", "a");
    rig.push("c2", "a");
    CHECK(rig.chains.ids("c1").empty());
    CHECK(rig.chains.ids("c2") == std::vector<std::string>{"a"});
    CHECK(rig.link.sent ==
          std::vector<std::string>{"begin a on c1 [a]", "abort a", "begin a on c2 [a]"});
}

TEST_CASE("a reservation past the memory budget fails the whole chain") {
    Rig rig(10);
    rig.push("c1", "a");
    rig.push("c1", "b");
    auto target = rig.write_target("c1", "b");
    REQUIRE(*target);
    rig.write(**target, "pages-1.img", "123456");
    CHECK_FALSE(rig.chains.reserve("b", 6));
    CHECK(rig.link.sent.at(2) == "abort a");
    CHECK(rig.link.sent.at(3) == "abort b");
    CHECK(rig.read("a", "pages-1.img")->value().answer == Answer::failed);
    CHECK(rig.read("b", "pages-1.img")->value().answer == Answer::failed);
}

// img-ctl drop at each step of a push's and its file's life. Before the null-chain fix, a drop
// while the announcement waited for the link made for_write dereference a chain that was gone.
TEST_CASE("a drop at every step aborts what img-cached was told, frees memory, ends waiters") {
    enum class Step { announcing, announced, writing, written, finishing };
    for (auto step :
         {Step::announcing, Step::announced, Step::writing, Step::written, Step::finishing}) {
        CAPTURE(static_cast<int>(step));
        Rig rig;
        if (step == Step::announcing) rig.link.set_up(false);
        auto announced = rig.push("c1", "a");
        auto target = rig.write_target("c1", "a");
        if (step >= Step::writing) {
            REQUIRE(*target);
            rig.chains.write_started("a", "pages-1.img");
            REQUIRE(rig.chains.reserve("a", 4));
        }
        if (step >= Step::written)
            rig.chains.write_ended(**target, "pages-1.img",
                                   imgtest::make_file("pages-1.img", "abcd"), 4);
        Outcome<bool> finished;
        if (step == Step::finishing) {
            rig.chains.write_started("a", "core-1.img");  // finish waits for this one
            finished = rig.finish("c1");
            CHECK_FALSE(*finished);
        }

        REQUIRE(rig.chains.drop("a"));
        rig.link.set_up(true);
        imgtest::settle(rig.io);

        CHECK(*announced);
        REQUIRE(*target);
        if (step == Step::announcing) {
            CHECK(rig.link.sent.empty());  // never announced, so nothing to abort
            CHECK((*target)->outgoing->state() == proxyd::OutgoingState::failed);
            CHECK((*target)->outgoing->error() == "its chain was dropped");
        } else {
            CHECK(rig.link.sent == std::vector<std::string>{"begin a on c1 [a]", "abort a"});
        }
        if (step == Step::writing)
            rig.chains.write_ended(**target, "pages-1.img",
                                   imgtest::make_file("pages-1.img", "abcd"), 4);
        if (finished) CHECK(*finished);  // ended by the drop, with no SNAPSHOT_END
        CHECK(rig.chains.bytes_held() == 0);
        CHECK(rig.chains.ids("c1").empty());
        CHECK(rig.read("a", "pages-1.img")->value().answer == Answer::absent);
        CHECK_FALSE(rig.chains.drop("a"));
    }
}

TEST_CASE("a finish waiting for writes does not end a chain of the same name begun after a drop") {
    Rig rig;
    rig.push("c1", "a");
    rig.chains.write_started("a", "pages-1.img");
    auto finished = rig.finish("c1");
    CHECK_FALSE(*finished);
    REQUIRE(rig.chains.drop("a"));
    rig.chains.write_abandoned("a", "pages-1.img");
    rig.push("c1", "b");  // a new dump on the same chain name
    imgtest::settle(rig.io);
    CHECK(*finished);
    CHECK(rig.link.sent ==
          std::vector<std::string>{"begin a on c1 [a]", "abort a", "begin b on c1 [b]"});
    CHECK(rig.chains.ids("c1") == std::vector<std::string>{"b"});
}

TEST_CASE("a connection waits until every earlier one has said what it is") {
    asio::io_context io;
    proxyd::ConnectionOrder order(io.get_executor());
    const auto first = order.admit();
    const auto second = order.admit();
    const auto third = order.admit();
    auto turn = imgtest::start(io, order.wait_for_earlier(third, std::chrono::hours(1)));
    imgtest::settle(io);
    CHECK_FALSE(*turn);
    order.settle(second);
    imgtest::settle(io);
    CHECK_FALSE(*turn);
    order.settle(first);
    imgtest::settle(io);
    REQUIRE(*turn);
    CHECK(**turn);
    // The first connection never waits.
    auto at_once = imgtest::start(io, order.wait_for_earlier(first, std::chrono::hours(1)));
    imgtest::settle(io);
    CHECK(at_once->value_or(false));
}

TEST_CASE("a silent connection delays one request once, then is settled for good") {
    asio::io_context io;
    proxyd::ConnectionOrder order(io.get_executor());
    const auto silent = order.admit();
    const auto waiting = order.admit();
    auto turn = imgtest::start(io, order.wait_for_earlier(waiting, std::chrono::milliseconds(5)));
    // Bounded poll: the limit above is 5 ms; give it up to 2 s on a loaded machine.
    for (int i = 0; i < 40 && !*turn; ++i) imgtest::settle(io);
    REQUIRE(*turn);
    CHECK_FALSE(**turn);
    order.settle(waiting);
    const auto later = order.admit();
    auto next = imgtest::start(io, order.wait_for_earlier(later, std::chrono::hours(1)));
    imgtest::settle(io);
    CHECK(next->value_or(false));
    order.settle(later);
    order.settle(silent);  // its late settle changes nothing
    {
        proxyd::OrderTicket ticket(order);  // settles when it goes out of scope
        const auto after = order.admit();
        auto blocked = imgtest::start(io, order.wait_for_earlier(after, std::chrono::hours(1)));
        imgtest::settle(io);
        CHECK_FALSE(*blocked);
        ticket.settle();
        imgtest::settle(io);
        CHECK(blocked->value_or(false));
    }
}
