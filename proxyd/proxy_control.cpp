// Control requests on the proxy.
#include "proxy_control.hpp"

#include "util/names.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace imgx::proxyd {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace {

constexpr auto kProgressInterval = 500ms;

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
    out.set_rate_bytes_per_second(seconds > 0 ? static_cast<double>(s.bytes_acked()) / seconds : 0);
    out.set_error(s.error());
}

control::Response base_response(LinkClient& link) {
    control::Response r;
    r.set_daemon("img-proxyd");
    r.set_link(link.describe());
    return r;
}

control::Response failure(LinkClient& link, std::string error) {
    auto r = base_response(link);
    r.set_final(true);
    r.set_error(std::move(error));
    return r;
}

}  // namespace

control::Handler make_control_handler(criu::EndpointSet& endpoints, SnapshotRegistry& registry, LinkClient& link) {
    return [&](const control::Request& request, control::Replier& reply) -> asio::awaitable<void> {
        switch (request.what_case()) {
            case control::Request::kOpen: {
                std::string error;
                try {
                    EndpointSpec spec{request.open().dir(), request.open().snapshot_id()};
                    if (spec.snapshot_id.empty()) spec.snapshot_id = snapshot_id_from_dir(spec.dir);
                    if (auto problem = snapshot_id_problem(spec.snapshot_id)) throw std::runtime_error(*problem);
                    endpoints.open(spec);
                } catch (const std::exception& e) {
                    error = e.what();
                }
                if (!error.empty()) {
                    co_await reply.send(failure(link, error));
                    co_return;
                }
                auto r = base_response(link);
                r.set_ok(true);
                r.set_final(true);
                co_await reply.send(r);
                co_return;
            }
            case control::Request::kClose: {
                if (!endpoints.close(request.close())) {
                    co_await reply.send(failure(link, "no endpoint in " + request.close()));
                    co_return;
                }
                auto r = base_response(link);
                r.set_ok(true);
                r.set_final(true);
                co_await reply.send(r);
                co_return;
            }
            case control::Request::kStatus: {
                auto r = base_response(link);
                for (const auto& s : registry.all()) describe(*s, *r.add_snapshots());
                for (const auto& e : endpoints.list()) {
                    auto* out = r.add_endpoints();
                    out->set_dir(e.endpoint.dir);
                    out->set_snapshot_id(e.endpoint.snapshot_id);
                    for (const auto& p : e.socket_paths) out->add_sockets(p);
                }
                r.set_ok(true);
                r.set_final(true);
                co_await reply.send(r);
                co_return;
            }
            case control::Request::kWait: {
                auto snapshot = co_await registry.wait_for(request.wait());
                for (;;) {
                    auto progress = base_response(link);
                    describe(*snapshot, *progress.add_snapshots());
                    if (snapshot->settled()) {
                        progress.set_final(true);
                        progress.set_ok(snapshot->state() == OutgoingState::acknowledged);
                        progress.set_error(snapshot->error());
                        co_await reply.send(progress);
                        co_return;
                    }
                    co_await reply.send(progress);
                    asio::steady_timer timer(co_await asio::this_coro::executor, kProgressInterval);
                    co_await (snapshot->wait_settled() || timer.async_wait(asio::use_awaitable));
                }
            }
            case control::Request::kDrop: {
                auto snapshot = registry.find(request.drop());
                if (!snapshot) {
                    co_await reply.send(failure(link, "no snapshot '" + request.drop() + "' on img-proxyd"));
                    co_return;
                }
                if (!snapshot->settled()) link.abort_snapshot(snapshot, "dropped by the operator");
                registry.forget(request.drop());
                spdlog::info("snapshot '{}' dropped by the operator", request.drop());
                auto r = base_response(link);
                r.set_ok(true);
                r.set_final(true);
                co_await reply.send(r);
                co_return;
            }
            case control::Request::WHAT_NOT_SET:
                break;
        }
        co_await reply.send(failure(link, "empty or unknown request"));
    };
}

}  // namespace imgx::proxyd
