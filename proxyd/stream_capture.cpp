// G4 capture: read requests and pipes from CRIU, drain every pipe concurrently onto the link.
#include "stream_capture.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <optional>
#include <vector>

#include "captured_file.hpp"
#include "criu/fd_passing.hpp"
#include "criu/pipe_sizes.hpp"
#include "criu/stream_codec.hpp"
#include "pipe_drain.hpp"
#include "proxy_metrics.hpp"
#include "util/log.hpp"

namespace imgx::proxyd {

namespace asio = boost::asio;

namespace {

// What the session, its pipe drains and its failure watcher share.
struct CaptureState {
    CaptureState(asio::local::stream_protocol::socket s, CaptureThread* c)
        : socket(std::move(s)), capture(c), drained(socket.get_executor()) {}
    asio::local::stream_protocol::socket socket;
    CaptureThread* capture;
    std::vector<std::shared_ptr<asio::posix::stream_descriptor>> pipes;
    std::vector<std::uint64_t> captured;  // the capture thread's pipes
    std::size_t active = 0;
    std::uint32_t files = 0;
    std::uint64_t bytes = 0;
    bool inventory = false;  // inventory.img arrived whole: CRIU writes it last, on success only
    AsyncEvent drained;

    // Makes CRIU fail fast: its next request or pipe write gets EPIPE.
    void close_everything() {
        boost::system::error_code ignored;
        socket.close(ignored);
        for (auto& p : pipes) p->close(ignored);
        for (auto id : captured) capture->close(id);
    }
};

// Reads one pipe to its end: on the capture thread into the capture buffer, or on the loop.
asio::awaitable<void> drain_one(std::shared_ptr<CaptureState> state, UniqueFd fd, std::string name,
                                std::shared_ptr<OutgoingSnapshot> snapshot, CaptureContext ctx) {
    std::optional<std::uint64_t> size;
    if (ctx.capture) {
        const metrics::GaugeGuard reading(proxy_metrics().files_reading);
        criu::set_nonblocking(fd.get());
        auto file =
            std::make_shared<CapturedFile>(state->socket.get_executor(), name, snapshot, ctx.link);
        state->captured.push_back(ctx.capture->add(std::move(fd), file));
        if (snapshot->settled()) ctx.capture->close(state->captured.back());
        size = co_await file->finished();
    } else {
        auto pipe = std::make_shared<asio::posix::stream_descriptor>(state->socket.get_executor(),
                                                                     fd.release());
        pipe->non_blocking(true);
        state->pipes.push_back(pipe);
        size = co_await drain_to_link(*pipe, name, snapshot, ctx.link, ctx.pool);
        boost::system::error_code ignored;
        pipe->close(ignored);
    }
    if (size) {
        ++state->files;
        state->bytes += *size;
        if (name == criu::kInventoryImage) state->inventory = true;
    } else if (!snapshot->settled()) {
        ++proxy_metrics().errors.client_gone;
        ctx.link.abort_snapshot(snapshot, "reading " + name + " from CRIU failed");
    }
    --state->active;
    state->drained.notify();
}

}  // namespace

asio::awaitable<void> run_stream_capture(asio::local::stream_protocol::socket socket,
                                         criu::Endpoint endpoint, CaptureContext ctx) {
    const std::string peer = criu::describe_peer(socket.native_handle());
    const metrics::GaugeGuard connection(proxy_metrics().criu_connections);
    auto ex = socket.get_executor();
    auto state = std::make_shared<CaptureState>(std::move(socket), ctx.capture);

    auto older = ctx.registry.find(endpoint.snapshot_id);
    if (!ctx.link.connected())
        log_info({.snapshot = endpoint.snapshot_id, .peer = peer},
                 "dump of snapshot '{}' by CRIU ({}) waits for the link to img-cached",
                 endpoint.snapshot_id, peer);
    SnapshotRegistry& registry = ctx.registry;
    const std::uint64_t ticket = registry.begin_announcing(endpoint.snapshot_id);
    auto snapshot = co_await ctx.link.begin_snapshot(
        endpoint.snapshot_id, "stream", {}, {},
        [&registry, ticket] { return registry.announcing(ticket); });
    registry.end_announcing(ticket);
    if (!snapshot) {
        ++proxy_metrics().errors.aborted;
        log_warn({.snapshot = endpoint.snapshot_id, .peer = peer},
                 "dump of snapshot '{}' by CRIU ({}) was dropped by the operator while it waited "
                 "for the link; closing CRIU's connection",
                 endpoint.snapshot_id, peer);
        co_return;
    }
    ctx.registry.track(snapshot);
    // A new dump of a snapshot id replaces the old one, even one still running: img-cached
    // replaced it when the new one began (restores that got nothing yet follow the new one), and
    // here its CRIU is stopped (connection and pipes closed).
    if (older && !older->settled()) {
        log_warn({.snapshot = endpoint.snapshot_id, .peer = peer},
                 "snapshot '{}': a new dump by CRIU ({}) replaces the one still running",
                 endpoint.snapshot_id, peer);
        ctx.link.abort_snapshot(older, "replaced by a newer dump of the same snapshot id");
        ++proxy_metrics().errors.aborted;
    }
    if (snapshot->settled()) {
        log_error({.snapshot = snapshot->id(), .peer = peer},
                  "dump of snapshot '{}' by CRIU ({}) refused: {}", snapshot->id(), peer,
                  snapshot->error());
        co_return;
    }
    log_info({.snapshot = snapshot->id(), .peer = peer},
             "snapshot '{}' begins: dump by CRIU ({}) in {}", snapshot->id(), peer, endpoint.dir);

    // If the snapshot fails (link lost, cache refused), stop CRIU instead of letting it finish a
    // dump that cannot be restored.
    asio::co_spawn(
        ex,
        [state, snapshot]() -> asio::awaitable<void> {
            while (!snapshot->settled()) co_await snapshot->wait_change();
            if (snapshot->state() == OutgoingState::failed) state->close_everything();
        },
        asio::detached);

    try {
        for (;;) {
            // The request and its pipe, in one read when CRIU sent both.
            auto request = co_await criu::receive_request_and_pipe(state->socket);
            if (!request) break;  // CRIU is done announcing files; pipes may still be delivering
            std::string name = criu::decode_stream_request(request->body);
            UniqueFd fd = std::move(request->pipe);
            if (!fd) fd = co_await criu::receive_fd(state->socket);
            criu::enlarge_pipe(fd.get(), criu::kCapturePipeBytes);
            ++state->active;
            log_debug({.snapshot = snapshot->id(), .image = name, .peer = peer},
                      "snapshot '{}': CRIU opened {}", snapshot->id(), name);
            asio::co_spawn(ex, drain_one(state, std::move(fd), name, snapshot, ctx),
                           asio::detached);
        }
    } catch (const std::exception& e) {
        if (!snapshot->settled()) {
            ++proxy_metrics().errors.protocol;
            // abort_snapshot logs the snapshot's end line with this reason.
            ctx.link.abort_snapshot(snapshot, "bad input from CRIU (" + peer + "): " + e.what());
        }
        state->close_everything();
        co_return;
    }
    boost::system::error_code ignored;
    state->socket.close(ignored);
    while (state->active > 0) co_await state->drained.wait();
    if (snapshot->settled()) co_return;
    if (!state->inventory) {
        // CRIU writes inventory.img last and only when its dump succeeded: a dump that ends
        // without it was killed or failed, and its images cannot be restored.
        ++proxy_metrics().errors.client_gone;
        ctx.link.abort_snapshot(snapshot, fmt::format("CRIU ({}) ended the dump without {} after "
                                                      "{} files: the dump did not finish",
                                                      peer, criu::kInventoryImage, state->files));
        co_return;
    }
    ctx.link.end_snapshot(snapshot, state->files, state->bytes);
    log_info(
        {.snapshot = snapshot->id(), .peer = peer},
        "snapshot '{}': CRIU handed over {} files, {} bytes; waiting for img-cached to confirm",
        snapshot->id(), state->files, state->bytes);
}

}  // namespace imgx::proxyd
