// The FILE/SNAPSHOT protocol of the dumps sent over one link, and the tables of what img-cached
// has not acknowledged yet: a plain class over values and frames (no sockets, no timers).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "chunk_outbox.hpp"
#include "link/link_codec.hpp"
#include "outgoing_snapshot.hpp"
#include "util/buffer_pool.hpp"

namespace imgx::proxyd {

// Where the sender's frames go (the link client; a test records them). Calls come in protocol
// order and must be sent in that order.
class FrameSink {
  public:
    virtual ~FrameSink() = default;
    // An encoded message frame (header and body).
    virtual void send_message(std::string frame) = 0;
    // `size` bytes of file `file_tag` at `offset`, held in `buffer` until acknowledged: the
    // file's bytes, or (`size` != `original`) their zstd compression, `original` bytes of file.
    virtual void send_chunk(std::uint64_t file_tag, std::uint64_t offset, PooledBuffer buffer,
                            std::size_t size, std::size_t original) = 0;
};

// The dumps of the link's current session. A session ends with fail_session(): what it did not
// settle fails, and calls about its snapshots become no-ops.
class SnapshotSender {
  public:
    // `cache` names img-cached in log lines and errors. Chunks are compressed on `workers` (null:
    // never) as the outbox's settings say, `pressure` telling how the link stands.
    SnapshotSender(const boost::asio::any_io_executor& ex, std::string cache, FrameSink& sink,
                   WorkerPool* workers = nullptr,
                   std::function<link::LinkPressure()> pressure = {});

    // Compression of the chunks (settings, what img-cached accepted).
    [[nodiscard]] ChunkOutbox& outbox() noexcept { return outbox_; }

    // A dump of `id` announced now (SNAPSHOT_BEGIN), in the current session. img-remote
    // snapshots name their chain and its ordered ids (see link.proto).
    std::shared_ptr<OutgoingSnapshot> begin_snapshot(
        const std::string& id, const std::string& protocol, const std::string& chain = {},
        const std::vector<std::string>& chain_ids = {});
    // A dump of `id` that cannot be announced: failed at once with `why`, nothing is sent.
    std::shared_ptr<OutgoingSnapshot> refuse_snapshot(const std::string& id,
                                                      const std::string& protocol,
                                                      const std::string& why);

    // Frames of a snapshot begun in the current session; no-ops once it settled or the session
    // ended. File tags are unique per sender (also for a file that is not sent).
    std::uint64_t begin_file(const std::shared_ptr<OutgoingSnapshot>& snapshot,
                             const std::string& name);
    void send_data(const std::shared_ptr<OutgoingSnapshot>& snapshot, std::uint64_t file_tag,
                   PooledBuffer buffer, std::size_t size);
    void end_file(const std::shared_ptr<OutgoingSnapshot>& snapshot, std::uint64_t file_tag,
                  std::uint64_t size, std::uint64_t xxh3);
    void end_snapshot(const std::shared_ptr<OutgoingSnapshot>& snapshot, std::uint32_t files,
                      std::uint64_t bytes);
    // The dump fails with `reason`; img-cached is told (SNAPSHOT_ABORT) if it was still in play.
    void abort_snapshot(const std::shared_ptr<OutgoingSnapshot>& snapshot,
                        const std::string& reason);

    // A message frame from img-cached: FILE_ACK or SNAPSHOT_RESULT. Throws wire::ProtocolError for
    // a bad body or any other type.
    void handle_answer(link::FrameType type, const std::string& body);

    // The session ended before img-cached confirmed its dumps: each unsettled one fails with
    // `why`, the tables are emptied, and later snapshots belong to the next session.
    void fail_session(const std::string& why);

    // Counts sessions: a snapshot belongs to the one current when it began.
    [[nodiscard]] std::uint64_t session() const noexcept { return session_; }
    // Dumps announced in this session and not yet settled by img-cached.
    [[nodiscard]] std::size_t unsettled() const noexcept { return snapshots_.size(); }
    // Files sent in this session that img-cached did not acknowledge yet.
    [[nodiscard]] std::size_t files_in_flight() const noexcept { return files_.size(); }

  private:
    struct FileInFlight {
        std::shared_ptr<OutgoingSnapshot> snapshot;
        std::uint64_t size = 0;  // bytes queued so far: the offset of the next chunk
    };

    [[nodiscard]] bool usable(const std::shared_ptr<OutgoingSnapshot>& snapshot) const;
    void forget(const std::shared_ptr<OutgoingSnapshot>& snapshot);
    void on_file_ack(const std::string& body);
    void on_snapshot_result(const std::string& body);

    boost::asio::any_io_executor ex_;
    std::string cache_;
    FrameSink& sink_;
    std::uint64_t session_ = 0;
    std::uint64_t next_tag_ = 1;
    std::map<std::uint64_t, std::shared_ptr<OutgoingSnapshot>> snapshots_;  // by tag, until settled
    std::map<std::uint64_t, FileInFlight> files_;                           // by tag, until acked
    ChunkOutbox outbox_;  // chunks (compressed or not) and the frames that must follow them
};

// The one line that ends every dump sent from here: what moved, how fast, and why it failed.
void log_snapshot_end(const OutgoingSnapshot& snapshot, const std::string& cache);

}  // namespace imgx::proxyd
