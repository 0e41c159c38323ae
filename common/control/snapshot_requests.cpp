// The snapshot requests both daemons answer: status, wait (until settled or hung up), drop.
#include "control/snapshot_requests.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

#include "control/endpoint_requests.hpp"

namespace imgx::control {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace {

// img-ctl redraws a terminal line at most 4 times a second.
constexpr auto kProgressInterval = 250ms;

asio::awaitable<void> send_final(Replier& reply, const FinalResponse& done, bool ok,
                                 std::string error) {
    const Response response = done(ok, std::move(error));
    co_await reply.send(response);
}

// Sends a progress answer at every interval until `dump` settles, then the final one.
asio::awaitable<void> follow(DumpView& dump, Replier& reply, const FinalResponse& done) {
    for (;;) {
        Response progress = done(dump.succeeded(), dump.error());
        progress.set_final(dump.settled());
        dump.describe(*progress.add_snapshots());
        co_await reply.send(progress);
        if (progress.final()) co_return;
        asio::steady_timer timer(co_await asio::this_coro::executor, kProgressInterval);
        co_await (dump.wait_settled() || timer.async_wait(asio::use_awaitable));
    }
}

asio::awaitable<void> wait_and_follow(SnapshotBook& book, WaitTarget target, Replier& reply,
                                      const FinalResponse& done) {
    auto dump = co_await wait_for_dump(book, std::move(target));
    co_await follow(*dump, reply, done);
}

asio::awaitable<void> answer_wait(SnapshotBook& book, const Request& request, Replier& reply,
                                  const FinalResponse& done) {
    WaitTarget target;
    std::string problem;
    try {
        target = wait_target(request);
    } catch (const std::invalid_argument& e) {
        problem = e.what();  // no co_await inside a handler
    }
    if (!problem.empty()) {
        co_await send_final(reply, done, false, std::move(problem));
        co_return;
    }
    const std::string id = target.snapshot_id;
    const std::uint64_t generation = target.min_generation;
    // An interrupted img-ctl (Ctrl-C, --timeout) must not leave a coroutine and its socket behind.
    auto outcome =
        co_await (wait_and_follow(book, std::move(target), reply, done) || reply.wait_hangup());
    if (outcome.index() == 1)
        spdlog::debug("wait for snapshot '{}' (generation >= {}) ended: the control client hung up",
                      id, generation);
}

asio::awaitable<void> answer_drop(SnapshotBook& book, const std::string& id, Replier& reply,
                                  const FinalResponse& done) {
    const bool dropped = book.drop(id);
    Response response = done(dropped, {});
    if (dropped)
        spdlog::info("snapshot '{}' dropped by the operator", id);
    else
        response.set_error("no snapshot '" + id + "' on " + response.daemon());
    co_await reply.send(response);
}

asio::awaitable<void> answer(criu::EndpointSet& endpoints, SnapshotBook& book,
                             const FinalResponse& done, const Request& request, Replier& reply) {
    if (auto r = done(true, {}); answer_endpoint_request(endpoints, request, r)) {
        co_await reply.send(r);
        co_return;
    }
    switch (request.what_case()) {
        case Request::kStatus: {
            auto r = done(true, {});
            for (const auto& s : book.all()) s->describe(*r.add_snapshots());
            list_endpoints(endpoints, r);
            co_await reply.send(r);
            co_return;
        }
        case Request::kWait:
        case Request::kWaitFor:
            co_await answer_wait(book, request, reply, done);
            co_return;
        case Request::kDrop:
            co_await answer_drop(book, request.drop(), reply, done);
            co_return;
        default:
            break;
    }
    co_await send_final(reply, done, false, "empty or unknown request");
}

}  // namespace

WaitTarget wait_target(const Request& request) {
    WaitTarget target;
    if (request.what_case() == Request::kWait) {
        target.snapshot_id = request.wait();
    } else if (request.what_case() == Request::kWaitFor) {
        const WaitFor& w = request.wait_for();
        target.snapshot_id = w.snapshot_id();
        target.min_generation = w.min_generation();
    }
    if (target.snapshot_id.empty()) throw std::invalid_argument("no snapshot id to wait for");
    return target;
}

asio::awaitable<std::shared_ptr<DumpView>> wait_for_dump(SnapshotBook& book, WaitTarget target) {
    for (;;) {
        if (auto found = book.find(target.snapshot_id);
            found && found->generation() >= target.min_generation)
            co_return found;
        co_await book.wait_change();
    }
}

Handler make_snapshot_handler(criu::EndpointSet& endpoints, std::shared_ptr<SnapshotBook> book,
                              FinalResponse done) {
    return [&endpoints, book = std::move(book), done = std::move(done)](
               const Request& request, Replier& reply) -> asio::awaitable<void> {
        return answer(endpoints, *book, done, request, reply);
    };
}

}  // namespace imgx::control
