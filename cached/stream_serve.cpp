// G4 serve: answer each request once the answer is certain, serve files through CRIU's pipes.
#include "stream_serve.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "cache_metrics.hpp"
#include "criu/fd_passing.hpp"
#include "criu/framed_socket.hpp"
#include "criu/hangup.hpp"
#include "criu/image_feed.hpp"
#include "criu/stream_codec.hpp"
#include "serve_wait.hpp"
#include "util/log.hpp"

namespace imgx::cached {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using criu::wait_hangup;
using store::FileLookup;

namespace {

// Waits for the answer about `name`; pending again means CRIU hung up meanwhile.
asio::awaitable<FileLookup> wait_or_hangup(store::Snapshot& snapshot, const std::string& name,
                                           std::shared_ptr<const store::ImageFile>& file,
                                           asio::local::stream_protocol::socket& socket) {
    auto r = co_await (snapshot.wait_file(name, &file) || wait_hangup(socket));
    co_return r.index() == 0 ? std::get<0>(r) : FileLookup::pending;
}

bool answer_known(FileLookup answer) { return answer != FileLookup::pending; }

struct ReaderCount {
    std::shared_ptr<store::Snapshot> snapshot;
    explicit ReaderCount(std::shared_ptr<store::Snapshot> s) : snapshot(std::move(s)) {
        ++snapshot->readers;
    }
    ~ReaderCount() { --snapshot->readers; }
};

}  // namespace

// Longer than 60 lines: one loop over CRIU's requests, each branch one answer rule of the protocol.
asio::awaitable<void> run_stream_serve(asio::local::stream_protocol::socket socket,
                                       criu::Endpoint endpoint, store::ImageStore& store,
                                       std::chrono::seconds serve_wait) {
    const std::string peer = criu::describe_peer(socket.native_handle());
    const std::string context =
        fmt::format("restore of '{}' by CRIU ({})", endpoint.snapshot_id, peer);
    const LogFields fields{.snapshot = endpoint.snapshot_id, .peer = peer};
    const metrics::GaugeGuard connection(cache_metrics().criu_connections);
    auto about = [&](const std::string& image) {
        return LogFields{fields.snapshot, image, fields.peer};
    };
    std::optional<ReaderCount> reading;
    std::size_t served = 0, missing = 0;
    try {
        for (;;) {
            auto body = co_await criu::read_frame(socket);
            if (!body) break;
            const std::string name = criu::decode_stream_request(*body);
            if (!reading) {
                // A restore binds to the snapshot current at its first request, for all of its run.
                auto snapshot = store.find(endpoint.snapshot_id);
                if (!snapshot) {
                    log_info(fields, "{}: waiting for a dump of it to start", context);
                    auto r = co_await (wait_for_dump(store, endpoint.snapshot_id, serve_wait) ||
                                       wait_hangup(socket));
                    if (r.index() == 1) {
                        log_info(fields, "{}: CRIU went away while waiting for the dump", context);
                        ++cache_metrics().errors.client_gone;
                        co_return;
                    }
                    snapshot = std::get<0>(r);
                    if (!snapshot) {
                        // Closing makes CRIU fail the restore instead of hanging.
                        ++cache_metrics().errors.timeout;
                        log_error(fields,
                                  "{}: no dump of snapshot '{}' began within {} s "
                                  "(serve_wait_seconds); closing CRIU's connection",
                                  context, endpoint.snapshot_id, serve_wait.count());
                        co_return;
                    }
                }
                reading.emplace(snapshot);
            }
            std::shared_ptr<const store::ImageFile> file;
            FileLookup answer = reading->snapshot->lookup(name, &file);
            if (answer == FileLookup::pending) {
                log_debug(about(name), "{}: {} has not arrived yet; waiting", context, name);
                answer = co_await wait_or_hangup(*reading->snapshot, name, file, socket);
            }
            if (answer == FileLookup::failed && served == 0 && missing == 0) {
                // Nothing was answered yet, so following a newer dump that replaced this one
                // cannot mix two dumps.
                auto current = store.find(endpoint.snapshot_id);
                if (current && current != reading->snapshot) {
                    log_info(fields,
                             "{}: the dump it was waiting on was replaced; following the newer one",
                             context);
                    reading.reset();
                    reading.emplace(current);
                    answer = co_await wait_or_hangup(*reading->snapshot, name, file, socket);
                }
            }
            if (!answer_known(answer)) {
                log_info(about(name), "{}: CRIU went away while waiting for {}", context, name);
                ++cache_metrics().errors.client_gone;
                co_return;
            }
            if (answer == FileLookup::failed) {
                // No "missing" answer and no data: closing makes CRIU fail the restore loudly.
                log_error(about(name),
                          "{}: snapshot failed ({}); closing CRIU's connection before {}", context,
                          reading->snapshot->error(), name);
                co_return;
            }
            const bool exists = answer == FileLookup::present;
            co_await criu::write_frame(socket, criu::stream_reply_frame(exists));
            if (!exists) {
                ++missing;
                continue;
            }
            UniqueFd pipe = co_await criu::receive_fd(socket);
            ++served;
            asio::co_spawn(
                socket.get_executor(), criu::feed_pipe(std::move(pipe), std::move(file), context),
                [&served_bytes = cache_metrics().served_bytes](
                    std::exception_ptr, std::uint64_t written) { served_bytes += written; });
        }
    } catch (const std::exception& e) {
        ++cache_metrics().errors.protocol;
        log_error(fields, "{}: {}; closing the connection", context, e.what());
        co_return;
    }
    log_info(fields, "{} ended: {} files served, {} answered missing", context, served, missing);
}

}  // namespace imgx::cached
