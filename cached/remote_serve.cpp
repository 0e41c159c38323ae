// img-remote on the destination side: answer reads once the whole chain has arrived
// (spec 3.6, 3.10).
#include "remote_serve.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "cache_metrics.hpp"
#include "criu/fd_passing.hpp"
#include "criu/framed_socket.hpp"
#include "criu/hangup.hpp"
#include "criu/image_feed.hpp"
#include "criu/pipe_sizes.hpp"
#include "criu/remote_codec.hpp"
#include "serve_wait.hpp"
#include "util/log.hpp"

namespace imgx::cached {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using asio::local::stream_protocol;
using Kind = criu::RemoteRequest::Kind;
using criu::kPipeAfterReplyLimit;
using criu::wait_hangup;

namespace {

enum class Outcome { ready, timed_out, hung_up };

// Runs `work` until it finishes, the limit passes, or CRIU hangs up.
template <typename Work>
asio::awaitable<Outcome> bounded(Work work, stream_protocol::socket& socket,
                                 std::chrono::seconds limit) {
    asio::steady_timer timer(socket.get_executor(), limit);
    auto r =
        co_await (std::move(work) || timer.async_wait(asio::use_awaitable) || wait_hangup(socket));
    co_return r.index() == 0 ? Outcome::ready
    : r.index() == 1         ? Outcome::timed_out
                             : Outcome::hung_up;
}

// True once every snapshot of the chain is complete; false if one failed. Waits otherwise.
asio::awaitable<bool> wait_chain_complete(store::ImageStore& store, const std::string& chain) {
    for (;;) {
        const auto* ids = store.chain(chain);
        if (!ids) {
            co_await store.wait_change();
            continue;
        }
        bool missing = false;
        std::shared_ptr<store::Snapshot> receiving;
        for (const auto& id : *ids) {
            auto snapshot = store.find(id);
            if (!snapshot) {
                missing = true;
                break;
            }
            if (snapshot->state() == store::SnapshotState::failed) co_return false;
            if (snapshot->state() == store::SnapshotState::receiving) {
                receiving = std::move(snapshot);
                break;
            }
        }
        if (missing)
            co_await store.wait_change();
        else if (receiving)
            co_await receiving->wait_settled();
        else
            co_return true;
    }
}

// Waits until a dump of `chain` has begun (img-cached knows the chain's ids).
asio::awaitable<void> wait_chain_known(store::ImageStore& store, const std::string& chain) {
    while (!store.chain(chain)) co_await store.wait_change();
}

asio::awaitable<void> handle_pull(stream_protocol::socket& socket, store::ImageStore& store,
                                  const std::string& chain, const RemoteServeOptions& options,
                                  const std::string& context, const LogFields& fields) {
    // First serve_wait_seconds for a dump of the chain to begin (0: no limit), then
    // --remote-wait for the whole chain to arrive, as for a read.
    constexpr std::chrono::seconds kNoLimit = std::chrono::hours(24 * 365 * 10);
    const auto begin_limit = options.serve_wait.count() == 0 ? kNoLimit : options.serve_wait;
    auto outcome = co_await bounded(wait_chain_known(store, chain), socket, begin_limit);
    if (outcome == Outcome::timed_out) {
        ++cache_metrics().errors.timeout;
        log_error(fields,
                  "{}: no dump of chain '{}' began within {} s (serve_wait_seconds); closing "
                  "without a list so the restore aborts",
                  context, chain, options.serve_wait.count());
        co_return;
    }
    bool complete = false;
    if (outcome == Outcome::ready)
        outcome = co_await bounded(
            [&]() -> asio::awaitable<void> {
                complete = co_await wait_chain_complete(store, chain);
            }(),
            socket, options.wait_limit);
    if (outcome != Outcome::ready || !complete) {
        // Never a non-zero error to a control request (G2 builds crash on it): closing gives CRIU
        // an empty list, so it cannot find its snapshot and aborts the restore.
        const char* why = "failed";
        if (outcome == Outcome::timed_out) why = "did not arrive in time";
        if (outcome == Outcome::hung_up) why = "was still arriving when CRIU went away";
        log_error(fields, "{}: chain '{}' {}; closing without a list so the restore aborts",
                  context, chain, why);
        co_return;
    }
    std::string out = criu::remote_reply_frame(criu::kReplyOk);
    for (const auto& id : *store.chain(chain)) out += criu::snapshot_id_frame(id);
    co_await criu::write_frame(socket, out);
}

asio::awaitable<void> handle_read(stream_protocol::socket& socket, store::ImageStore& store,
                                  const criu::RemoteRequest& req, const RemoteServeOptions& options,
                                  const std::string& context, const LogFields& fields) {
    std::shared_ptr<const store::ImageFile> file;
    store::FileLookup answer = store::FileLookup::failed;
    bool begun = true;
    auto outcome = co_await bounded(
        [&]() -> asio::awaitable<void> {
            auto snapshot = co_await wait_for_dump(store, req.snapshot_id, options.serve_wait);
            begun = snapshot != nullptr;
            if (!begun) co_return;
            answer = co_await snapshot->wait_file(req.name, &file);
        }(),
        socket, options.wait_limit);
    if (outcome == Outcome::hung_up) {
        log_info(fields, "{}: CRIU went away while waiting", context);
        ++cache_metrics().errors.client_gone;
        co_return;
    }
    std::uint32_t error = criu::kReplyOk;
    if (!begun) {
        ++cache_metrics().errors.timeout;
        log_error(fields,
                  "{}: no dump of snapshot '{}' began within {} s (serve_wait_seconds); answering "
                  "error 5 and closing CRIU's connection",
                  context, req.snapshot_id, options.serve_wait.count());
        error = criu::kReplyFailed;
    } else if (outcome == Outcome::timed_out) {
        ++cache_metrics().errors.timeout;
        log_error(fields, "{}: the dump did not finish within {} s; answering error 5", context,
                  options.wait_limit.count());
        error = criu::kReplyFailed;
    } else if (answer == store::FileLookup::failed) {
        auto snapshot = store.find(req.snapshot_id);
        const std::string why = snapshot ? snapshot->error() : "dropped";
        log_error(fields, "{}: snapshot failed ({}); answering error 5", context, why);
        error = criu::kReplyFailed;
    } else if (answer == store::FileLookup::absent) {
        error = criu::kReplyNoImage;
    }
    co_await criu::write_frame(socket, criu::remote_reply_frame(error));
    if (error != criu::kReplyOk) co_return;
    std::uint64_t written = 0;
    if (options.reads_on_socket) {
        written = co_await criu::feed_socket(socket, std::move(file), context);
    } else {
        UniqueFd pipe = co_await criu::receive_fd(socket, kPipeAfterReplyLimit);
        written = co_await criu::feed_pipe(std::move(pipe), std::move(file), context);
    }
    cache_metrics().served_bytes += written;
}

}  // namespace

asio::awaitable<void> run_remote_serve(stream_protocol::socket socket, criu::Endpoint endpoint,
                                       store::ImageStore& store, RemoteServeOptions options) {
    const std::string peer = criu::describe_peer(socket.native_handle());
    const metrics::GaugeGuard connection(cache_metrics().criu_connections);
    std::string context =
        fmt::format("img-remote restore connection from CRIU ({}) in {}", peer, endpoint.dir);
    // What the connection concerns, kept here so the catch handler's log line can still name it.
    std::string about_snapshot = endpoint.snapshot_id, about_image;
    LogFields fields{.snapshot = about_snapshot, .peer = peer};
    try {
        auto body = co_await criu::read_frame(socket);
        if (!body) co_return;
        const auto req = criu::decode_remote_request(*body);
        switch (req.kind) {
            case Kind::pull_ids:
                co_await handle_pull(socket, store, endpoint.snapshot_id, options, context, fields);
                break;
            case Kind::read:
                context = fmt::format("read of {} in snapshot '{}' by CRIU ({})", req.name,
                                      req.snapshot_id, peer);
                about_snapshot = req.snapshot_id;
                about_image = req.name;
                fields = {.snapshot = about_snapshot, .image = about_image, .peer = peer};
                co_await handle_read(socket, store, req, options, context, fields);
                break;
            case Kind::finish_restore:
                log_info(fields, "{}: restore finished", context);
                break;  // close without a reply, as CRIU's own cache did
            default:
                log_error(fields,
                          "{}: {} request on img-cache.sock; CRIU writes only to img-proxy.sock",
                          context, criu::kind_name(req.kind));
                break;
        }
    } catch (const std::exception& e) {
        ++cache_metrics().errors.protocol;
        log_error(fields, "{}: {}; closing the connection", context, e.what());
    }
}

}  // namespace imgx::cached
