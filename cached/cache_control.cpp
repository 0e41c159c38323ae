// Control requests on the cache.
#include "cache_control.hpp"

#include "control/endpoint_requests.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace imgx::cached {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace {

// img-ctl redraws a terminal line at most 4 times a second.
constexpr auto kProgressInterval = 250ms;
constexpr const char* kDaemon = "img-cached";

void describe(const store::Snapshot& s, control::SnapshotStatus& out) {
    using namespace std::chrono;
    const bool settled = s.state() != store::SnapshotState::receiving;
    const double seconds = duration<double>((settled ? s.settled() : steady_clock::now()) - s.started()).count();
    const std::uint64_t bytes = s.byte_count() + s.bytes_in_flight;
    out.set_snapshot_id(s.id());
    out.set_protocol(s.protocol());
    out.set_state(std::string(store::state_name(s.state())));
    out.set_files(s.file_count());
    out.set_bytes(bytes);
    out.set_bytes_acked(s.byte_count());
    out.set_age_seconds(duration<double>(steady_clock::now() - s.started()).count());
    out.set_rate_bytes_per_second(seconds > 0 ? static_cast<double>(bytes) / seconds : 0);
    out.set_error(s.error());
    out.set_readers(s.readers);
    // The size of a dump is announced only by its end.
    const bool total_known = s.state() == store::SnapshotState::complete;
    out.set_total_known(total_known);
    out.set_total_bytes(total_known ? s.byte_count() : 0);
    out.set_duration_seconds(seconds);
}

}  // namespace

control::Handler make_control_handler(criu::EndpointSet& endpoints, store::ImageStore& store,
                                      const std::string& listening) {
    return [&endpoints, &store, listening](const control::Request& request,
                                           control::Replier& reply) -> asio::awaitable<void> {
        auto done = [&](bool ok, std::string error = {}) {
            return control::final_response(kDaemon, listening, ok, std::move(error));
        };
        if (auto r = done(true); control::answer_endpoint_request(endpoints, request, r)) {
            co_await reply.send(r);
            co_return;
        }
        switch (request.what_case()) {
            case control::Request::kStatus: {
                auto r = done(true);
                for (const auto& s : store.all()) describe(*s, *r.add_snapshots());
                control::list_endpoints(endpoints, r);
                co_await reply.send(r);
                co_return;
            }
            case control::Request::kWait: {
                auto snapshot = co_await store.wait_for(request.wait());
                for (;;) {
                    const bool settled = snapshot->state() != store::SnapshotState::receiving;
                    auto progress = done(snapshot->state() == store::SnapshotState::complete, snapshot->error());
                    progress.set_final(settled);
                    describe(*snapshot, *progress.add_snapshots());
                    co_await reply.send(progress);
                    if (settled) co_return;
                    asio::steady_timer timer(co_await asio::this_coro::executor, kProgressInterval);
                    co_await (snapshot->wait_settled() || timer.async_wait(asio::use_awaitable));
                }
            }
            case control::Request::kDrop: {
                const bool dropped = store.drop(request.drop());
                if (dropped) spdlog::info("snapshot '{}' dropped by the operator", request.drop());
                std::string error;
                if (!dropped) error = "no snapshot '" + request.drop() + "' on img-cached";
                {
                    const control::Response response = done(dropped, error);
                    co_await reply.send(response);
                }
                co_return;
            }
            default:
                break;
        }
        {
            const control::Response response = done(false, "empty or unknown request");
            co_await reply.send(response);
        }
    };
}

}  // namespace imgx::cached
