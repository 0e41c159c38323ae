// The proxy's TCP link to img-cached: connects (and reconnects), sends frames in order, reads acks.
#pragma once

#include "outgoing_snapshot.hpp"
#include "util/address.hpp"
#include "util/async_event.hpp"
#include "util/buffer_pool.hpp"
#include "link/link_codec.hpp"
#include "link/link_stream.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace imgx::proxyd {

class LinkClient {
public:
    // `tls` null: plain TCP (plain_tcp); otherwise every connection is TLS with it.
    LinkClient(const boost::asio::any_io_executor& ex, HostPort cache,
               std::chrono::steady_clock::duration connect_wait, std::shared_ptr<link::LinkTls> tls = {});

    // Starts the connect/reconnect loop.
    void start();
    void stop();

    // Waits (at most the connect wait) for the link, then announces a dump of `id`.
    // Returns a failed snapshot if the cache cannot be reached.
    // img-remote snapshots name their chain and its ordered ids (see link.proto).
    boost::asio::awaitable<std::shared_ptr<OutgoingSnapshot>> begin_snapshot(
        const std::string& id, const std::string& protocol, const std::string& chain = {},
        const std::vector<std::string>& chain_ids = {});
    // Queue frames of a snapshot begun on the current connection. All are no-ops once the
    // snapshot failed. File tags are unique per proxy run.
    std::uint64_t begin_file(const std::shared_ptr<OutgoingSnapshot>& snapshot, const std::string& name);
    void send_data(const std::shared_ptr<OutgoingSnapshot>& snapshot, std::uint64_t file_tag,
                   PooledBuffer buffer, std::size_t size);
    void end_file(const std::shared_ptr<OutgoingSnapshot>& snapshot, std::uint64_t file_tag,
                  std::uint64_t size, std::uint64_t xxh3);
    void end_snapshot(const std::shared_ptr<OutgoingSnapshot>& snapshot, std::uint32_t files, std::uint64_t bytes);
    void abort_snapshot(const std::shared_ptr<OutgoingSnapshot>& snapshot, const std::string& reason);

    // Waits until every queued frame is written or the link is down, at most `limit`.
    boost::asio::awaitable<void> flush(std::chrono::steady_clock::duration limit);
    // How long a new dump waits for an absent link (a reload may change it).
    void set_connect_wait(std::chrono::steady_clock::duration wait) { connect_wait_ = wait; }
    // The TLS context of the next connections (a reload with new certificates); the current
    // connection keeps its own.
    void set_tls(std::shared_ptr<link::LinkTls> tls) { tls_ = std::move(tls); }

    [[nodiscard]] std::string describe() const;
    [[nodiscard]] bool connected() const noexcept { return connected_; }

private:
    struct OutFrame {
        std::string message;                 // a control frame, or empty for DATA
        link::DataHeaderBytes data_header{};
        PooledBuffer buffer;
        std::size_t size = 0;
    };
    struct FileInFlight {
        std::shared_ptr<OutgoingSnapshot> snapshot;
        std::uint64_t size = 0;
    };

    boost::asio::awaitable<void> run();
    boost::asio::awaitable<void> handshake(link::LinkStream& socket);
    // The handshake's failure as text (empty on success).
    boost::asio::awaitable<std::string> try_handshake(link::LinkStream& socket);
    boost::asio::awaitable<void> write_loop(link::LinkStream& socket);
    boost::asio::awaitable<void> read_loop(link::LinkStream& socket);
    // Runs a loop, recording the first failure of a connection in first_failure_.
    boost::asio::awaitable<void> guarded(boost::asio::awaitable<void> loop);
    void handle_ack(link::FrameType type, const std::string& body);
    bool usable(const std::shared_ptr<OutgoingSnapshot>& snapshot) const;
    void enqueue(OutFrame frame);
    void connection_lost(const std::string& why);

    boost::asio::any_io_executor ex_;
    HostPort cache_;
    std::chrono::steady_clock::duration connect_wait_;
    std::shared_ptr<link::LinkTls> tls_;
    bool stopping_ = false;
    bool connected_ = false;
    std::uint64_t generation_ = 0;  // counts connections; snapshots belong to one
    std::uint64_t next_tag_ = 1;
    std::string last_error_;
    std::string first_failure_;
    std::deque<OutFrame> queue_;
    AsyncEvent queued_;
    AsyncEvent written_;  // frames left the queue (written, or dropped with the connection)
    AsyncEvent link_changed_;
    std::map<std::uint64_t, std::shared_ptr<OutgoingSnapshot>> snapshots_;  // by tag, until settled
    std::map<std::uint64_t, FileInFlight> files_;                           // by tag, until acked
    std::shared_ptr<link::LinkStream> socket_;
};

}  // namespace imgx::proxyd
