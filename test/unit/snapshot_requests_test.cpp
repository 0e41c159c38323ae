// Snapshot control requests over a fake table of dumps: wait by generation, wait ended by a
// hang-up.
#include "control/snapshot_requests.hpp"

#include <boost/asio/local/connect_pair.hpp>
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "asio_helpers.hpp"
#include "criu/framed_socket.hpp"
#include "util/async_event.hpp"

using namespace imgx::control;
using imgtest::settle;
using imgtest::start;
namespace asio = boost::asio;

namespace {

class FakeDump final : public DumpView {
  public:
    FakeDump(const asio::any_io_executor& ex, std::string id, std::uint64_t generation)
        : id_(std::move(id)), generation_(generation), changed_(ex) {}

    [[nodiscard]] std::uint64_t generation() const override { return generation_; }
    [[nodiscard]] bool settled() const override { return settled_; }
    [[nodiscard]] bool succeeded() const override { return settled_ && ok_; }
    [[nodiscard]] std::string error() const override { return ok_ ? "" : "it broke"; }
    void describe(SnapshotStatus& out) const override {
        out.set_snapshot_id(id_);
        out.set_generation(generation_);
        out.set_state(!settled_ ? "receiving" : ok_ ? "complete" : "failed");
    }
    asio::awaitable<void> wait_settled() override {
        while (!settled_) co_await changed_.wait();
    }
    void settle_as(bool ok) {
        settled_ = true;
        ok_ = ok;
        changed_.notify();
    }

  private:
    std::string id_;
    std::uint64_t generation_;
    bool settled_ = false;
    bool ok_ = false;
    imgx::AsyncEvent changed_;
};

class FakeBook final : public SnapshotBook {
  public:
    explicit FakeBook(const asio::any_io_executor& ex) : ex_(ex), changed_(ex) {}

    // A new dump of `id`, one generation later than the last.
    std::shared_ptr<FakeDump> begin(const std::string& id) {
        auto dump = std::make_shared<FakeDump>(ex_, id, ++generations_[id]);
        latest_[id] = dump;
        changed_.notify();
        return dump;
    }
    [[nodiscard]] std::vector<std::shared_ptr<DumpView>> all() const override {
        std::vector<std::shared_ptr<DumpView>> out;
        for (const auto& [id, dump] : latest_) out.push_back(dump);
        return out;
    }
    [[nodiscard]] std::shared_ptr<DumpView> find(const std::string& id) const override {
        auto it = latest_.find(id);
        return it == latest_.end() ? nullptr : it->second;
    }
    asio::awaitable<void> wait_change() override { co_await changed_.wait(); }
    bool drop(const std::string& id) override { return latest_.erase(id) > 0; }

  private:
    asio::any_io_executor ex_;
    std::map<std::string, std::shared_ptr<FakeDump>> latest_;
    std::map<std::string, std::uint64_t> generations_;
    imgx::AsyncEvent changed_;
};

// A handler over a FakeBook, one control connection (a socket pair) and what came back on it.
struct Connection {
    asio::io_context io;
    imgx::criu::EndpointSet endpoints{io.get_executor(), {}, {}};
    std::shared_ptr<FakeBook> book = std::make_shared<FakeBook>(io.get_executor());
    Handler handler = make_snapshot_handler(endpoints, book, [](bool ok, std::string error) {
        Response r;
        r.set_daemon("img-test");
        r.set_ok(ok);
        r.set_final(true);
        r.set_error(std::move(error));
        return r;
    });
    asio::local::stream_protocol::socket daemon_end{io};
    asio::local::stream_protocol::socket client_end{io};
    Replier replier{daemon_end};
    std::vector<Response> received;
    std::shared_ptr<bool> handled = std::make_shared<bool>(false);

    Connection() {
        asio::local::connect_pair(daemon_end, client_end);
        asio::co_spawn(io, read_responses(), asio::detached);
    }
    asio::awaitable<void> read_responses() {
        for (;;) {
            auto body = co_await imgx::criu::read_frame(client_end);
            if (!body) co_return;
            Response r;
            imgx::wire::decode_body(*body, r, "control response");
            received.push_back(std::move(r));
        }
    }
    // Starts the handler on `request`; `handled` turns true when it returns.
    void send(Request request) {
        auto owned = std::make_shared<Request>(std::move(request));
        asio::co_spawn(
            io,
            [this, owned, done = handled]() -> asio::awaitable<void> {
                co_await handler(*owned, replier);
                *done = true;
            },
            asio::detached);
        settle(io);
    }
    [[nodiscard]] bool got_final() const { return !received.empty() && received.back().final(); }
};

Request wait_request(const std::string& id, std::uint64_t min_generation) {
    Request r;
    r.mutable_wait_for()->set_snapshot_id(id);
    r.mutable_wait_for()->set_min_generation(min_generation);
    return r;
}

}  // namespace

TEST_CASE("a wait for a generation not there yet returns once a dump of that generation begins") {
    asio::io_context io;
    FakeBook book(io.get_executor());
    book.begin("job1")->settle_as(true);
    auto found = start(io, wait_for_dump(book, WaitTarget{"job1", 2}));
    settle(io);
    CHECK_FALSE(*found);
    book.begin("other");
    settle(io);
    CHECK_FALSE(*found);
    book.begin("job1");
    settle(io);
    REQUIRE(*found);
    CHECK((**found)->generation() == 2);
}

TEST_CASE("a wait for a generation already passed returns the latest dump at once") {
    asio::io_context io;
    FakeBook book(io.get_executor());
    book.begin("job1");
    book.begin("job1");
    auto found = start(io, wait_for_dump(book, WaitTarget{"job1", 1}));
    settle(io);
    REQUIRE(*found);
    CHECK((**found)->generation() == 2);
}

TEST_CASE("the old wait request takes the latest dump, the new one names the generation") {
    Request old_form;
    old_form.set_wait("job1");
    CHECK(wait_target(old_form).snapshot_id == "job1");
    CHECK(wait_target(old_form).min_generation == 0);
    const auto target = wait_target(wait_request("job1", 3));
    CHECK(target.snapshot_id == "job1");
    CHECK(target.min_generation == 3);
    CHECK_THROWS_AS(wait_target(wait_request("", 3)), std::invalid_argument);
}

TEST_CASE("a wait for the next generation does not answer with the old failed dump of the id") {
    Connection c;
    c.book->begin("job1")->settle_as(false);
    c.send(wait_request("job1", 2));
    CHECK(c.received.empty());
    CHECK_FALSE(*c.handled);

    auto fresh = c.book->begin("job1");
    settle(c.io);
    REQUIRE_FALSE(c.received.empty());  // a progress answer about the new dump
    CHECK_FALSE(c.received.back().final());
    CHECK(c.received.back().snapshots(0).generation() == 2);

    fresh->settle_as(true);
    settle(c.io);
    REQUIRE(c.got_final());
    CHECK(c.received.back().ok());
    CHECK(c.received.back().snapshots(0).generation() == 2);
    CHECK(*c.handled);
}

TEST_CASE("a wait ends when its client hangs up") {
    Connection c;
    SECTION("for an id that never appears") {
        Request request;
        request.set_wait("never");
        c.send(request);
        CHECK(c.received.empty());
    }
    SECTION("while the dump still runs") {
        c.book->begin("job1");
        c.send(wait_request("job1", 1));
        CHECK_FALSE(c.received.empty());
    }
    CHECK_FALSE(*c.handled);
    c.client_end.close();
    settle(c.io);
    CHECK(*c.handled);
}

TEST_CASE("drop answers with the daemon's name for an unknown id, and forgets a known one") {
    Connection c;
    c.book->begin("job1");
    Request drop;
    drop.set_drop("nosuch");
    c.send(drop);
    REQUIRE(c.got_final());
    CHECK_FALSE(c.received.back().ok());
    CHECK(c.received.back().error() == "no snapshot 'nosuch' on img-test");
    drop.set_drop("job1");
    c.send(drop);
    CHECK(c.received.back().ok());
    CHECK_FALSE(c.book->find("job1"));
}

TEST_CASE("status lists every dump with its generation") {
    Connection c;
    c.book->begin("job1");
    c.book->begin("job1");
    c.book->begin("job2");
    Request status;
    status.set_status(true);
    c.send(status);
    REQUIRE(c.got_final());
    const auto& r = c.received.back();
    REQUIRE(r.snapshots_size() == 2);
    CHECK(r.snapshots(0).generation() == 2);
    CHECK(r.snapshots(1).generation() == 1);
}
