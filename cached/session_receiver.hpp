// The receiving state of one link session: link frames -> verified files in the image store.
// It outlives a connection, so a resumed session continues its open snapshots and files.
#pragma once

#include "link/link_codec.hpp"
#include "store/image_store.hpp"

#include <google/protobuf/message_lite.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace imgx::cached {

class SessionReceiver {
public:
    // Queues a numbered frame to the proxy (FILE_ACK, SNAPSHOT_RESULT).
    using Send = std::function<void(link::FrameType, const google::protobuf::MessageLite&)>;

    SessionReceiver(store::ImageStore& store, Send send) : store_(store), send_(std::move(send)) {}

    // The proxy's address, for log lines and errors (changes with each connection).
    void set_peer(std::string peer) { peer_ = std::move(peer); }
    [[nodiscard]] const std::string& peer() const noexcept { return peer_; }

    // A whole message frame (any numbered type but DATA). Throws wire::ProtocolError.
    void on_message(link::FrameType type, const std::string& body);

    // A DATA frame for `file_tag` with `size` payload bytes: where to put them. After the bytes
    // are there, data_arrived() keeps them; a connection lost before that leaves no trace.
    char* data_target(std::uint64_t file_tag, std::size_t size);
    void data_arrived();

    // The session ends: whatever it did not finish can never complete.
    void fail_unfinished(const std::string& why);
    // Snapshots this session began and has not ended.
    [[nodiscard]] std::size_t unfinished() const;

private:
    struct IncomingSnapshot {
        std::shared_ptr<store::Snapshot> snapshot;
        std::uint32_t files_done = 0;
        std::uint64_t bytes_done = 0;
        std::size_t files_open = 0;
        bool failure_sent = false;  // the proxy was told this snapshot failed here
    };
    struct IncomingFile {
        std::uint64_t snapshot_tag;
        std::unique_ptr<store::ImageFileBuilder> builder;
    };

    IncomingSnapshot& snapshot_of(std::uint64_t tag, std::string_view frame);
    IncomingFile& file_of(std::uint64_t tag, std::string_view frame);
    void on_snapshot_begin(const std::string& body);
    void on_file_begin(const std::string& body);
    void on_file_end(const std::string& body);
    void on_snapshot_end(const std::string& body);
    void on_snapshot_abort(const std::string& body);
    // A snapshot the store failed (memory budget, disk full, I/O error): logged once and told to
    // the proxy at once, so its dump stops instead of sending the rest for nothing.
    // `image` is a copy: the builders whose names callers pass are replaced inside.
    void report_storage_failure(IncomingSnapshot& in, std::uint64_t snapshot_tag, std::string image);

    store::ImageStore& store_;
    Send send_;
    std::string peer_ = "unknown peer";
    std::map<std::uint64_t, IncomingSnapshot> snapshots_;
    std::map<std::uint64_t, IncomingFile> files_;
    std::vector<char> scratch_;
    // The DATA frame being read: its file and snapshot (null while discarding).
    IncomingFile* data_file_ = nullptr;
    IncomingSnapshot* data_snapshot_ = nullptr;
    std::size_t data_size_ = 0;
};

}  // namespace imgx::cached
