// The receiving state of one link session: link frames -> verified files in the image store.
// It outlives a connection, so a resumed session continues its open snapshots and files.
#pragma once

#include <google/protobuf/message_lite.h>

#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "link/chunk_reorder.hpp"
#include "link/link_codec.hpp"
#include "store/image_store.hpp"

namespace imgx::cached {

class SessionReceiver {
  public:
    // Queues a numbered frame to the proxy (FILE_ACK, SNAPSHOT_RESULT).
    using Send = std::function<void(link::FrameType, const google::protobuf::MessageLite&)>;

    // A DATA_AT chunk held back (it arrived ahead of its file's next byte) is now part of its
    // file: its lane may acknowledge frame `frame`.
    using Release = std::function<void(std::uint32_t lane, std::uint64_t frame)>;

    SessionReceiver(store::ImageStore& store, Send send, Release release = {})
        : store_(store), send_(std::move(send)), release_(std::move(release)) {}
    SessionReceiver(const SessionReceiver&) = delete;
    SessionReceiver& operator=(const SessionReceiver&) = delete;
    ~SessionReceiver();

    // Lanes of the session (docs/link-protocol.md, "Lanes"). With more than one, file data comes
    // only as DATA_AT and FILE_END may arrive before a file's last chunks.
    void set_lanes(std::uint32_t lanes) noexcept { lanes_ = lanes; }
    [[nodiscard]] std::uint32_t lanes() const noexcept { return lanes_; }

    // Chunk compressions the session accepted in its HELLO (link::kCodecZstd bits; 0: none, and
    // a DATA_ZSTD frame is a protocol error).
    void set_codecs(std::uint32_t codecs) noexcept { codecs_ = codecs; }
    [[nodiscard]] std::uint32_t codecs() const noexcept { return codecs_; }
    // "file 'NAME' of snapshot 'ID'" for a file tag, for errors about its frames.
    [[nodiscard]] std::string describe_file(std::uint64_t file_tag) const;

    // The proxy's address, for log lines and errors (changes with each connection).
    void set_peer(std::string peer) { peer_ = std::move(peer); }
    [[nodiscard]] const std::string& peer() const noexcept { return peer_; }

    // A whole message frame (any numbered type but DATA). Throws wire::ProtocolError.
    void on_message(link::FrameType type, const std::string& body);

    // A DATA frame for `file_tag` with `size` payload bytes: where to put them. After the bytes
    // are there, data_arrived() keeps them; a connection lost before that leaves no trace.
    char* data_target(std::uint64_t file_tag, std::size_t size);
    void data_arrived();

    // A DATA_AT chunk of `bytes` at `offset` of `file_tag`, frame `frame` of `lane`. Appends it
    // (and the held chunks it unblocks) or holds it; returns true if held (`bytes` then moved).
    // Throws wire::ProtocolError for an unknown tag or a repeated or overlapping chunk.
    bool data_at_arrived(std::uint64_t file_tag, std::uint64_t offset, std::vector<char>& bytes,
                         std::uint32_t lane, std::uint64_t frame);

    // The session ends: whatever it did not finish can never complete.
    void fail_unfinished(const std::string& why);
    // Snapshots this session began and has not ended.
    [[nodiscard]] std::size_t unfinished() const;
    // Files begun and not yet ended or let go (each holds a builder: memory, maybe an fd).
    [[nodiscard]] std::size_t open_files() const noexcept { return files_.size(); }
    // Tags of files let go while open (their snapshot failed, ended or was aborted) whose frames
    // still in flight are consumed and dropped; at most kDiscardedTagsKept, the oldest forgotten.
    [[nodiscard]] std::size_t discarded_files() const noexcept { return discarded_.size(); }
    static constexpr std::size_t kDiscardedTagsKept = 4096;

    // DATA_AT chunks that wait (held ahead of a gap, or come before their FILE_BEGIN) count
    // against the store's memory budget; beyond it, the waiting chunks of all sessions together
    // may take kWaitingBeyondBudget more (without a budget: kWaitingWithoutBudget in all). Each
    // counts its bytes plus kWaitingChunkOverhead. A chunk over that refuses the peer
    // (wire::ProtocolError: the session ends). docs/security.md, "Memory a peer can make
    // img-cached hold".
    static constexpr std::uint64_t kWaitingBeyondBudget = 32 << 20;
    static constexpr std::uint64_t kWaitingWithoutBudget = 256 << 20;
    static constexpr std::uint64_t kWaitingChunkOverhead = 128;
    // Files whose chunks came before their FILE_BEGIN, at most.
    static constexpr std::size_t kMaxEarlyFiles = 64;
    // What this session's waiting chunks take (bytes plus overhead each).
    [[nodiscard]] std::uint64_t waiting_bytes() const noexcept { return waiting_; }

  private:
    struct IncomingSnapshot {
        std::shared_ptr<store::Snapshot> snapshot;
        std::uint32_t files_done = 0;
        std::uint64_t bytes_done = 0;
        std::size_t files_open = 0;
        std::size_t files_waiting = 0;        // FILE_END arrived, chunks on other lanes did not yet
        std::optional<std::string> end_body;  // SNAPSHOT_END waiting for those files
        bool failure_sent = false;            // the proxy was told this snapshot failed here
    };
    struct IncomingFile {
        std::uint64_t snapshot_tag;
        std::unique_ptr<store::ImageFileBuilder> builder;
        link::ChunkReorder reorder;  // bytes in order so far; chunks that came early
        std::uint64_t xxh3 = 0;      // from FILE_END, once reorder.size_known()
        bool waiting = false;        // FILE_END came before the last chunks
    };

    using FileMap = std::map<std::uint64_t, IncomingFile>;
    // Counts public entry points in progress: a snapshot failing inside one (hook) has its files
    // let go when the outermost returns, never under a caller that holds one of them.
    struct Busy {
        explicit Busy(SessionReceiver& r) : r_(r), unwinding_(std::uncaught_exceptions()) {
            ++r_.busy_;
        }
        Busy(const Busy&) = delete;
        Busy& operator=(const Busy&) = delete;
        ~Busy();
        SessionReceiver& r_;
        int unwinding_;  // a protocol error ends the session: nothing to settle then
    };

    IncomingSnapshot& snapshot_of(std::uint64_t tag, std::string_view frame);
    IncomingFile& file_of(std::uint64_t tag, std::string_view frame);
    void on_snapshot_begin(const std::string& body);
    void on_file_begin(const std::string& body);
    void on_file_end(const std::string& body);
    // A file whose FILE_END and bytes are all there: verified, then a SNAPSHOT_END that waited
    // for it is handled.
    void finish_file(std::uint64_t file_tag);
    // Size and checksum check; stores the file and acknowledges it, or fails the snapshot.
    void verify_file(IncomingSnapshot& in, std::uint64_t file_tag, IncomingFile& file);
    // Places a chunk of a known file: appended (with the held chunks it unblocks) or held in the
    // file's reorder map (true; the chunk is moved there).
    bool place_chunk(std::uint64_t file_tag, link::ChunkReorder::Held& chunk);
    // Appends `size` bytes to a file of a snapshot still receiving (else they are dropped).
    void append(IncomingFile& file, IncomingSnapshot& in, const char* data, std::size_t size);
    void on_snapshot_end(const std::string& body);
    void on_snapshot_abort(const std::string& body);
    // Lets go of one open file: builder (memory, fd) destroyed, held chunks dropped and their
    // lanes released, its tag remembered as discarded.
    void discard_file(FileMap::iterator it);
    void discard_files_of(std::uint64_t snapshot_tag);
    void remember_discarded(std::uint64_t file_tag);
    // The store failed a snapshot of this session (hook): its open files go at once, or when the
    // entry point in progress returns.
    void snapshot_failed(std::uint64_t snapshot_tag);
    void settle_failed();
    // The session no longer tracks the snapshot (ended or aborted).
    void forget_snapshot(std::uint64_t snapshot_tag);
    // A chunk of `bytes` starts waiting: charged (see kWaitingBeyondBudget), or the peer is
    // refused with a wire::ProtocolError naming the snapshot and file. Or it stops waiting.
    void wait_charge(std::uint64_t file_tag, std::size_t bytes);
    void wait_release(std::size_t bytes) noexcept;
    void wait_release_all() noexcept;
    // A snapshot the store failed (memory budget, disk full, I/O error): logged once and told to
    // the proxy at once, so its dump stops instead of sending the rest for nothing.
    // `image` names the file that failed it, for the log line.
    void report_storage_failure(IncomingSnapshot& in, std::uint64_t snapshot_tag,
                                std::string image);

    store::ImageStore& store_;
    Send send_;
    Release release_;
    std::uint32_t lanes_ = 1;
    std::uint32_t codecs_ = 0;
    std::string peer_ = "unknown peer";
    std::map<std::uint64_t, IncomingSnapshot> snapshots_;
    FileMap files_;
    std::set<std::uint64_t> discarded_;
    std::deque<std::uint64_t> discarded_order_;  // oldest first, for forgetting beyond the bound
    std::vector<std::uint64_t> failed_;          // snapshots failed while busy_, to settle
    int busy_ = 0;
    std::uint64_t highest_tag_ = 0;  // the highest snapshot or file tag begun
    // DATA_AT chunks that came before their FILE_BEGIN (on another lane), by file tag.
    std::map<std::uint64_t, std::vector<link::ChunkReorder::Held>> early_;
    std::uint64_t waiting_ = 0;  // taken by this session's waiting chunks
    std::vector<char> scratch_;
    // The DATA frame being read: its file (none while discarding). A file let go meanwhile
    // leaves its builder here until the bytes are in, since they are read into it.
    std::optional<std::uint64_t> data_tag_;
    std::unique_ptr<store::ImageFileBuilder> data_orphan_;
    std::size_t data_size_ = 0;
};

}  // namespace imgx::cached
