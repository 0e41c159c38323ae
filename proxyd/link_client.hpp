// The proxy's TCP link to img-cached: connects its lanes (and reconnects, resuming the link
// session within the retry budget), sends frames in order, reads acknowledgements. The dumps'
// protocol is SnapshotSender's; this class carries its frames.
// link_client.cpp: lanes and their connections; link_chunks.cpp: chunks onto the lanes;
// link_resume.cpp: resume and failure.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "link/lane_load.hpp"
#include "link/link_codec.hpp"
#include "link/link_flow.hpp"
#include "link/link_stream.hpp"
#include "outgoing_snapshot.hpp"
#include "snapshot_link.hpp"
#include "snapshot_sender.hpp"
#include "util/address.hpp"
#include "util/async_event.hpp"
#include "util/buffer_pool.hpp"

namespace imgx::proxyd {

// A numbered frame to img-cached: a message, or a DATA, DATA_AT or DATA_ZSTD frame whose bytes stay
// in their pool buffer until img-cached acknowledges them.
struct LinkFrame {
    std::string message;                      // a control frame, or empty for DATA and DATA_AT
    link::DataZstdHeaderBytes data_header{};  // DATA, DATA_AT or DATA_ZSTD: the largest
    std::size_t header_size = 0;              // the bytes of data_header in use
    PooledBuffer buffer;
    std::size_t size = 0;      // bytes of the buffer on the wire
    std::size_t original = 0;  // file bytes they carry (more than `size` when compressed)
};
void append_buffers(const LinkFrame& frame, std::vector<boost::asio::const_buffer>& out);

// How the link behaves when its connection breaks (a reload may change them).
struct LinkResumeSettings {
    std::chrono::steady_clock::duration retry;         // 0: unfinished dumps fail at once
    std::chrono::steady_clock::duration idle_timeout;  // no answer this long: reconnect
};

class LinkClient : public SnapshotLink, private FrameSink {
  public:
    // `tls` null: plain TCP (plain_tcp); otherwise every connection is TLS with it. `streams`:
    // the lanes (TCP connections) each link session asks for (docs/link-protocol.md, "Lanes").
    LinkClient(const boost::asio::any_io_executor& ex, HostPort cache,
               std::chrono::steady_clock::duration connect_wait, LinkResumeSettings resume,
               std::shared_ptr<link::LinkTls> tls = {}, std::size_t streams = 1,
               WorkerPool* workers = nullptr);

    // Chunk compression from the next chunk on (offered to img-cached from the next session).
    void set_compress(CompressSettings settings) { sender_.outbox().set_settings(settings); }

    // Starts the connect/reconnect loop.
    void start();
    void stop();

    // Waits (at most the connect wait) for the link, then announces a dump of `id`.
    // Returns a failed snapshot if the cache cannot be reached. Announcements reach the cache in
    // the order of the calls, also when several waited for the link: a later dump of the same id
    // is the one the cache keeps.
    // img-remote snapshots name their chain and its ordered ids (see link.proto).
    // `wanted`, if given, is asked when the turn has come, right before the announcement is
    // queued: if it says no (the dump was replaced or dropped meanwhile), nothing is sent and the
    // result is null.
    boost::asio::awaitable<std::shared_ptr<OutgoingSnapshot>> begin_snapshot(
        const std::string& id, const std::string& protocol, const std::string& chain = {},
        const std::vector<std::string>& chain_ids = {}, std::function<bool()> wanted = {}) override;
    // Queue frames of a snapshot begun in the current link session (also while its connection
    // is being resumed). All are no-ops once the snapshot failed. File tags are unique per run.
    std::uint64_t begin_file(const std::shared_ptr<OutgoingSnapshot>& snapshot,
                             const std::string& name);
    void send_data(const std::shared_ptr<OutgoingSnapshot>& snapshot, std::uint64_t file_tag,
                   PooledBuffer buffer, std::size_t size);
    void end_file(const std::shared_ptr<OutgoingSnapshot>& snapshot, std::uint64_t file_tag,
                  std::uint64_t size, std::uint64_t xxh3);
    void end_snapshot(const std::shared_ptr<OutgoingSnapshot>& snapshot, std::uint32_t files,
                      std::uint64_t bytes) override;
    void abort_snapshot(const std::shared_ptr<OutgoingSnapshot>& snapshot,
                        const std::string& reason) override;

    // Makes announcements waiting in begin_snapshot() ask their `wanted` again (after a drop).
    void wake_announcements() { link_changed_.notify(); }

    // Waits until every queued frame is written or the link is down, at most `limit`.
    // (Written is not acknowledged: stop() right after drops what img-cached did not confirm.)
    boost::asio::awaitable<void> flush(std::chrono::steady_clock::duration limit);
    // How long a new dump waits for an absent link (a reload may change it).
    void set_connect_wait(std::chrono::steady_clock::duration wait) { connect_wait_ = wait; }
    void set_resume(LinkResumeSettings resume) { resume_ = resume; }
    // The TLS context of the next connections (a reload with new certificates); the current
    // connection keeps its own.
    void set_tls(std::shared_ptr<link::LinkTls> tls) { tls_ = std::move(tls); }

    [[nodiscard]] std::string describe() const;
    [[nodiscard]] bool connected() const noexcept { return connected_; }

  private:
    // A lane above 0 of the session: its own connection, numbering, ACKs and resume.
    struct Lane {
        explicit Lane(const boost::asio::any_io_executor& ex) : flow(ex) {}
        link::LinkFlow<LinkFrame> flow;
        std::shared_ptr<link::LinkStream> socket;
        bool connected = false;
        bool joined = false;           // img-cached knows the lane: the next connection resumes it
        std::uint64_t generation = 0;  // the session it belongs to
        std::optional<std::chrono::steady_clock::time_point> lost_at;
    };

    // FrameSink: the sender's frames. Messages go on lane 0; a chunk goes as DATA with one lane,
    // else as DATA_AT on the lane where it would arrive first.
    void send_message(std::string frame) override;
    void send_chunk(std::uint64_t file_tag, std::uint64_t offset, PooledBuffer buffer,
                    std::size_t size, std::size_t original) override;
    // How the lanes stand: bytes waiting before them and their delivery rate (for `auto`).
    link::LinkPressure pressure();
    // Every lane's bytes on their way and delivery rate, measured now.
    void observe_lanes();

    // Connects lane 0 of each session and resumes it after a loss.
    boost::asio::awaitable<void> run();
    // Lane 0 is up with `socket`: reads and writes until the connection fails.
    boost::asio::awaitable<void> serve(std::shared_ptr<link::LinkStream> socket);
    // Connects lane `n` (above 0) of each session that accepted it, and resumes it after a loss.
    boost::asio::awaitable<void> run_lane(std::size_t n);
    // Lane `n` (above 0) is up with `socket` for session `generation`: until the connection fails.
    boost::asio::awaitable<void> serve_lane(std::size_t n, std::shared_ptr<link::LinkStream> socket,
                                            std::uint64_t generation);
    // A random non-zero link session id.
    static std::uint64_t new_session_id();
    // A new connection to img-cached (TLS if configured).
    std::shared_ptr<link::LinkStream> new_socket();
    // Resolves, connects and shakes hands as lane `lane`; the failure as text (empty on success:
    // `answer` is set).
    boost::asio::awaitable<std::string> try_connect(link::LinkStream& socket, std::uint32_t lane,
                                                    link::Hello& answer);
    boost::asio::awaitable<void> handshake(link::LinkStream& socket, std::uint32_t lane,
                                           link::Hello& answer);
    link::LinkFlow<LinkFrame>& flow_of(std::size_t lane) {
        return lane == 0 ? flow_ : extra_[lane - 1]->flow;
    }
    // The current session (counts them; snapshots and connections belong to one).
    [[nodiscard]] std::uint64_t generation() const noexcept { return sender_.session(); }
    // A frame went out (metrics; flush() waiters wake).
    void count_written(const LinkFrame& frame, bool resent);
    // Whether every queued frame of every lane was written.
    [[nodiscard]] bool all_written() const;
    // Reads lane `n`'s frames until the connection fails or session `generation` ends.
    boost::asio::awaitable<void> read_loop(std::size_t n, link::LinkStream& socket,
                                           link::LinkLiveness& liveness, std::uint64_t generation);

    // link_resume.cpp: resume and failure.
    // Continues the session as img-cached's HELLO answer says (resumed, or it lost it).
    void session_begins(const link::Hello& answer);
    // Lane 0's connection ended with `why`: resumed within the retry budget, or the session fails
    // (at once after a bad frame, `protocol_failure`: resuming would repeat it).
    void connection_lost(const std::string& why, bool protocol_failure);
    // Lane `n` (above 0) is lost: resumed within the retry budget, or the session fails.
    void lane_lost(std::size_t n, const std::string& why, bool protocol_failure);
    // Lane `n` could not be connected: false (and the session failed) once the budget ran out;
    // otherwise how long to wait before the next attempt in `wait`.
    bool lane_may_retry(std::size_t n, const std::string& why, link::Backoff& backoff,
                        std::chrono::steady_clock::duration& wait);
    // The time left to resume a lost session (zero: the budget ran out, and the session failed).
    std::chrono::steady_clock::duration resume_time_left();
    // Every unfinished dump of the session fails with `why`. `renew`: the next connection begins
    // a new session (and tells img-cached to drop this one); otherwise img-cached already began
    // a new one under the same id.
    void fail_session(const std::string& why, bool renew);
    // The session's connections end and its frames go: every socket is closed (lane 0's only if
    // `close_lane0`) before the flows whose buffers the sockets write from are cleared.
    void end(bool close_lane0);

    boost::asio::any_io_executor ex_;
    HostPort cache_;
    std::chrono::steady_clock::duration connect_wait_;
    LinkResumeSettings resume_;
    std::shared_ptr<link::LinkTls> tls_;
    bool stopping_ = false;
    bool connected_ = false;
    std::uint64_t connections_ = 0;
    std::uint64_t begin_calls_ = 0;  // begin_snapshot calls so far
    std::uint64_t begins_done_ = 0;  // of these, announced or failed (a prefix of the calls)
    std::uint64_t session_id_;
    bool session_known_ = false;  // img-cached has this session: the next connection resumes it
    std::uint64_t abandoned_session_ = 0;
    std::optional<std::chrono::steady_clock::time_point>
        lost_at_;  // the session waits for a resume
    std::string loss_reason_;
    link::Hello answer_;
    std::string last_error_;
    link::LinkFlow<LinkFrame> flow_;
    AsyncEvent written_;  // frames were written, acknowledged, or dropped with the session
    AsyncEvent link_changed_;
    SnapshotSender sender_;  // the dumps of the session
    std::shared_ptr<link::LinkStream> socket_;
    std::size_t streams_;                       // lanes asked for
    std::size_t lanes_ = 1;                     // lanes img-cached accepted for the current session
    std::vector<std::unique_ptr<Lane>> extra_;  // lanes 1 .. streams_ - 1
    link::LaneLoad load_;                       // unacknowledged DATA_AT bytes per lane
    std::uint64_t unwritten_chunk_bytes_ = 0;   // chunk bytes queued on the lanes, not yet written
};

}  // namespace imgx::proxyd
