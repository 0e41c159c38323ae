// img-remote on the source side: every image open is its own connection (spec 3.3-3.6).
#include "remote_capture.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstring>

#include "criu/fd_passing.hpp"
#include "criu/framed_socket.hpp"
#include "criu/image_feed.hpp"
#include "criu/pipe_sizes.hpp"
#include "criu/remote_codec.hpp"
#include "pipe_drain.hpp"
#include "proxy_metrics.hpp"
#include "util/log.hpp"

namespace imgx::proxyd {

namespace asio = boost::asio;
using asio::local::stream_protocol;
using Kind = criu::RemoteRequest::Kind;
using criu::kCapturePipeBytes;
using criu::kPipeAfterReplyLimit;
using namespace std::chrono_literals;

namespace {

// Longest a request waits for earlier connections to say what they are (a silent client).
constexpr auto kOrderLimit = 5s;

// Spec 3.5: a request acts only after every connection CRIU opened before it has said what it
// is, so a push is seen by the pull, write or finish that CRIU sent after it.
asio::awaitable<void> wait_for_earlier(OrderTicket& ticket, RemoteContext& ctx,
                                       const std::string& context) {
    const bool in_order = co_await ctx.order.wait_for_earlier(ticket.place(), kOrderLimit);
    if (!in_order)
        spdlog::warn("{}: going on although an earlier connection is still silent after {} s",
                     context,
                     std::chrono::duration_cast<std::chrono::seconds>(kOrderLimit).count());
}

asio::awaitable<void> handle_push(stream_protocol::socket& socket, const std::string& chain,
                                  OrderTicket& ticket, RemoteContext& ctx) {
    auto body = co_await criu::read_frame(socket);
    if (!body) throw wire::ProtocolError("push without a snapshot id");
    const auto id = criu::decode_snapshot_id_entry(*body);
    const auto push = ctx.chains.record_push(chain, id);
    ticket.settle();
    co_await ctx.chains.announce(chain, id, push);
}

asio::awaitable<void> handle_pull(stream_protocol::socket& socket, const std::string& chain,
                                  RemoteContext& ctx) {
    // Reply 0 then every id in push order; never a non-zero error to a control request.
    std::string out = criu::remote_reply_frame(criu::kReplyOk);
    for (const auto& id : ctx.chains.ids(chain)) out += criu::snapshot_id_frame(id);
    co_await criu::write_frame(socket, out);
}

// Counts an image write for the finish from the moment its request is read until it ends, or
// until its connection does (an error, shutdown): a finish never ends a chain without it.
class WriteInProgress {
  public:
    WriteInProgress(RemoteChains& chains, std::string id, std::string name)
        : chains_(chains), id_(std::move(id)), name_(std::move(name)) {
        chains_.write_started(id_, name_);
    }
    WriteInProgress(const WriteInProgress&) = delete;
    WriteInProgress& operator=(const WriteInProgress&) = delete;
    ~WriteInProgress() {
        if (!ended_) chains_.write_abandoned(id_, name_);
    }
    void end(const WriteTarget& target, std::shared_ptr<const store::ImageFile> file,
             std::uint64_t reserved) {
        ended_ = true;
        chains_.write_ended(target, name_, std::move(file), reserved);
    }

  private:
    RemoteChains& chains_;
    std::string id_, name_;
    bool ended_ = false;
};

asio::awaitable<void> handle_write(stream_protocol::socket& socket, const criu::RemoteRequest& req,
                                   const std::string& chain, RemoteContext& ctx,
                                   const std::string& peer, WriteInProgress& write) {
    const auto target = co_await ctx.chains.for_write(chain, req.snapshot_id);
    const auto& snapshot = target.outgoing;
    criu::WriteSource source;
    std::string failure;
    try {
        source = co_await criu::receive_write_source(socket);
    } catch (const std::exception& e) {
        failure = e.what();
    }
    if (!failure.empty()) {
        // The image CRIU meant to write is lost: the chain must not complete without it.
        if (ctx.chains.current(target))
            ctx.chains.fail_chain_of(req.snapshot_id, fmt::format("write of {} by CRIU ({}): {}",
                                                                  req.name, peer, failure));
        write.end(target, nullptr, 0);
        throw wire::ProtocolError(failure);
    }
    store::ImageFileBuilder kept(req.name);
    std::uint64_t reserved = 0;
    auto keep = [&](const char* data, std::size_t size) {
        if (!ctx.chains.reserve(req.snapshot_id, size)) return false;
        reserved += size;
        std::memcpy(kept.prepare_segment(size), data, size);
        kept.commit_segment();
        return true;
    };
    std::optional<std::uint64_t> size;
    if (source.pipe) {
        // G3: CRIU closes the socket now and writes into the pipe.
        boost::system::error_code ignored;
        socket.close(ignored);
        criu::enlarge_pipe(source.pipe.get(), kCapturePipeBytes);
        asio::posix::stream_descriptor pipe(socket.get_executor(), source.pipe.release());
        pipe.non_blocking(true);
        size = co_await drain_to_link(pipe, req.name, snapshot, ctx.link, ctx.pool, {}, keep);
    } else {
        // G2/G1: the image follows on the socket until CRIU closes it.
        socket.non_blocking(true);
        size = co_await drain_to_link(socket, req.name, snapshot, ctx.link, ctx.pool,
                                      source.first_bytes, keep);
    }
    if (!size && !snapshot->settled()) ++proxy_metrics().errors.client_gone;
    if (!size && !snapshot->settled() && ctx.chains.current(target))
        ctx.chains.fail_chain_of(req.snapshot_id,
                                 fmt::format("reading {} from CRIU ({}) failed", req.name, peer));
    std::shared_ptr<const store::ImageFile> file;  // no ?: in coroutines (gcc 12)
    if (size) file = kept.take();
    write.end(target, std::move(file), reserved);
}

asio::awaitable<void> handle_parent_read(stream_protocol::socket& socket,
                                         const criu::RemoteRequest& req, RemoteContext& ctx,
                                         const std::string& context) {
    auto read = co_await ctx.chains.read_parent(req.snapshot_id, req.name);
    if (read.answer == ParentRead::Answer::absent) {
        co_await criu::write_frame(socket, criu::remote_reply_frame(criu::kReplyNoImage));
        co_return;
    }
    if (read.answer == ParentRead::Answer::failed) {
        log_error({.snapshot = req.snapshot_id, .image = req.name},
                  "{}: chain failed; answering error 5 for {}", context, req.name);
        co_await criu::write_frame(socket, criu::remote_reply_frame(criu::kReplyFailed));
        co_return;
    }
    co_await criu::write_frame(socket, criu::remote_reply_frame(criu::kReplyOk));
    if (ctx.reads_on_socket) {
        co_await criu::feed_socket(socket, std::move(read.file), context);
    } else {
        UniqueFd pipe = co_await criu::receive_fd(socket, kPipeAfterReplyLimit);
        co_await criu::feed_pipe(std::move(pipe), std::move(read.file), context);
    }
}

}  // namespace

asio::awaitable<void> run_remote_capture(stream_protocol::socket socket, criu::Endpoint endpoint,
                                         std::unique_ptr<OrderTicket> ticket, RemoteContext ctx) {
    const std::string peer = criu::describe_peer(socket.native_handle());
    const metrics::GaugeGuard connection(proxy_metrics().criu_connections);
    const std::string& chain = endpoint.snapshot_id;
    std::string context =
        fmt::format("img-remote connection from CRIU ({}) in {}", peer, endpoint.dir);
    // What the connection concerns, kept here so the catch handler's log line can still name it.
    std::string about_snapshot = chain, about_image;
    try {
        auto body = co_await criu::read_frame(socket);
        if (!body) co_return;
        const auto req = criu::decode_remote_request(*body);
        if (!req.snapshot_id.empty() && !req.g1_control) {
            context = fmt::format("{} of {} in snapshot '{}' by CRIU ({})",
                                  criu::kind_name(req.kind), req.name, req.snapshot_id, peer);
            about_snapshot = req.snapshot_id;
            about_image = req.name;
        }
        spdlog::debug("{}", context);
        switch (req.kind) {
            case Kind::push_id:
                co_await handle_push(socket, chain, *ticket, ctx);
                break;
            case Kind::pull_ids:
                ticket->settle();  // not a push: later requests need not wait for it
                co_await wait_for_earlier(*ticket, ctx, context);
                co_await handle_pull(socket, chain, ctx);
                break;
            case Kind::write: {
                ticket->settle();
                WriteInProgress write(ctx.chains, req.snapshot_id, req.name);
                co_await wait_for_earlier(*ticket, ctx, context);
                co_await handle_write(socket, req, chain, ctx, peer, write);
                break;
            }
            case Kind::read:
                ticket->settle();
                co_await wait_for_earlier(*ticket, ctx, context);
                co_await handle_parent_read(socket, req, ctx, context);
                break;
            case Kind::finish_dump:
                ticket->settle();
                co_await wait_for_earlier(*ticket, ctx, context);
                co_await ctx.chains.finish(chain);
                break;
            case Kind::finish_restore:
                break;  // not expected on the dump side; CRIU accepts a close
        }
    } catch (const std::exception& e) {
        ++proxy_metrics().errors.protocol;
        log_error({.snapshot = about_snapshot, .image = about_image, .peer = peer},
                  "{}: {}; closing the connection", context, e.what());
    }
}

}  // namespace imgx::proxyd
