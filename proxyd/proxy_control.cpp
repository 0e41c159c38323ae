// Control requests on the proxy.
#include "proxy_control.hpp"

#include "control/endpoint_requests.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace imgx::proxyd {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace {

// img-ctl redraws a terminal line at most 4 times a second.
constexpr auto kProgressInterval = 250ms;
constexpr const char* kDaemon = "img-proxyd";

void describe(const OutgoingSnapshot& s, control::SnapshotStatus& out) {
    using namespace std::chrono;
    const auto end = s.settled() ? s.finished() : steady_clock::now();
    const double seconds = duration<double>(end - s.started()).count();
    out.set_snapshot_id(s.id());
    out.set_protocol(s.protocol());
    out.set_state(std::string(state_name(s.state())));
    out.set_files(s.files());
    out.set_bytes(s.bytes_read());
    out.set_bytes_acked(s.bytes_acked());
    out.set_age_seconds(duration<double>(steady_clock::now() - s.started()).count());
    out.set_rate_bytes_per_second(seconds > 0 ? static_cast<double>(s.bytes_read()) / seconds : 0);
    out.set_error(s.error());
    // Every byte was read from CRIU once it is sending: what remains is the link.
    const bool total_known = s.state() == OutgoingState::sending || s.state() == OutgoingState::acknowledged;
    out.set_total_known(total_known);
    out.set_total_bytes(total_known ? s.bytes_read() : 0);
    out.set_duration_seconds(seconds);
}

}  // namespace

control::Handler make_control_handler(criu::EndpointSet& endpoints, SnapshotRegistry& registry, LinkClient& link,
                                      RemoteChains& chains) {
    return [&](const control::Request& request, control::Replier& reply) -> asio::awaitable<void> {
        auto done = [&](bool ok, std::string error = {}) {
            return control::final_response(kDaemon, link.describe(), ok, std::move(error));
        };
        if (auto r = done(true); control::answer_endpoint_request(endpoints, request, r)) {
            co_await reply.send(r);
            co_return;
        }
        switch (request.what_case()) {
            case control::Request::kStatus: {
                auto r = done(true);
                for (const auto& s : registry.all()) describe(*s, *r.add_snapshots());
                control::list_endpoints(endpoints, r);
                co_await reply.send(r);
                co_return;
            }
            case control::Request::kWait: {
                auto snapshot = co_await registry.wait_for(request.wait());
                for (;;) {
                    auto progress = done(snapshot->state() == OutgoingState::acknowledged, snapshot->error());
                    progress.set_final(snapshot->settled());
                    describe(*snapshot, *progress.add_snapshots());
                    co_await reply.send(progress);
                    if (snapshot->settled()) co_return;
                    asio::steady_timer timer(co_await asio::this_coro::executor, kProgressInterval);
                    co_await (snapshot->wait_settled() || timer.async_wait(asio::use_awaitable));
                }
            }
            case control::Request::kDrop: {
                auto snapshot = registry.find(request.drop());
                if (!snapshot) {
                    {
                        const control::Response response = done(false, "no snapshot '" + request.drop() + "' on img-proxyd");
                        co_await reply.send(response);
                    }
                    co_return;
                }
                // An img-remote snapshot takes its whole pre-dump chain with it.
                if (!chains.drop(request.drop()) && !snapshot->settled())
                    link.abort_snapshot(snapshot, "dropped by the operator");
                registry.forget(request.drop());
                spdlog::info("snapshot '{}' dropped by the operator", request.drop());
                {
                    const control::Response response = done(true);
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

}  // namespace imgx::proxyd
