// Drives a SessionReceiver without sockets: link frames in, FILE_ACK / SNAPSHOT_RESULT and lane
// releases recorded.
#pragma once

#include <xxhash.h>

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cached/session_receiver.hpp"
#include "link.pb.h"
#include "store/image_store.hpp"

namespace imgtest {

struct ReceiverRig {
    explicit ReceiverRig(std::uint64_t budget_bytes = 4 << 20, std::uint32_t lanes = 1,
                         std::unique_ptr<imgx::store::SnapshotArchive> archive = nullptr)
        : store(io.get_executor(), imgx::store::StoreSettings{.memory_budget_bytes = budget_bytes},
                std::move(archive)) {
        rx.set_lanes(lanes);
        rx.set_peer("proxy.test:1");
    }

    boost::asio::io_context io;
    imgx::store::ImageStore store;
    std::vector<imgx::link::SnapshotResult> results;
    std::vector<imgx::link::FileAck> acks;
    std::vector<std::pair<std::uint32_t, std::uint64_t>> released;
    imgx::cached::SessionReceiver rx{
        store,
        [this](imgx::link::FrameType type, const google::protobuf::MessageLite& m) {
            if (type == imgx::link::FrameType::snapshot_result)
                results.emplace_back().ParseFromString(m.SerializeAsString());
            else
                acks.emplace_back().ParseFromString(m.SerializeAsString());
        },
        [this](std::uint32_t lane, std::uint64_t frame) { released.emplace_back(lane, frame); }};

    void begin(std::uint64_t tag, const std::string& id, const std::string& protocol = "stream") {
        imgx::link::SnapshotBegin m;
        m.set_snapshot_tag(tag);
        m.set_snapshot_id(id);
        m.set_protocol(protocol);
        rx.on_message(imgx::link::FrameType::snapshot_begin, m.SerializeAsString());
    }
    void file_begin(std::uint64_t file_tag, std::uint64_t snapshot_tag, const std::string& name) {
        imgx::link::FileBegin m;
        m.set_file_tag(file_tag);
        m.set_snapshot_tag(snapshot_tag);
        m.set_name(name);
        rx.on_message(imgx::link::FrameType::file_begin, m.SerializeAsString());
    }
    // A DATA frame (one lane).
    void data(std::uint64_t file_tag, const std::string& bytes) {
        char* into = rx.data_target(file_tag, bytes.size());
        std::memcpy(into, bytes.data(), bytes.size());
        rx.data_arrived();
    }
    // A DATA_AT frame; true if the receiver holds it.
    bool data_at(std::uint64_t file_tag, std::uint64_t offset, const std::string& bytes,
                 std::uint32_t lane = 1, std::uint64_t frame = 1) {
        std::vector<char> chunk(bytes.begin(), bytes.end());
        return rx.data_at_arrived(file_tag, offset, chunk, lane, frame);
    }
    void file_end(std::uint64_t file_tag, const std::string& content) {
        imgx::link::FileEnd m;
        m.set_file_tag(file_tag);
        m.set_size(content.size());
        m.set_xxh3(XXH3_64bits(content.data(), content.size()));
        rx.on_message(imgx::link::FrameType::file_end, m.SerializeAsString());
    }
    void end(std::uint64_t tag, std::uint32_t files, std::uint64_t bytes) {
        imgx::link::SnapshotEnd m;
        m.set_snapshot_tag(tag);
        m.set_file_count(files);
        m.set_total_bytes(bytes);
        rx.on_message(imgx::link::FrameType::snapshot_end, m.SerializeAsString());
    }
    void abort(std::uint64_t tag, const std::string& reason = "test abort") {
        imgx::link::SnapshotAbort m;
        m.set_snapshot_tag(tag);
        m.set_reason(reason);
        rx.on_message(imgx::link::FrameType::snapshot_abort, m.SerializeAsString());
    }
    // A whole one-file stream dump over one lane.
    void whole_dump(std::uint64_t snapshot_tag, std::uint64_t file_tag, const std::string& id,
                    const std::string& content, const std::string& name = "inventory.img") {
        begin(snapshot_tag, id);
        file_begin(file_tag, snapshot_tag, name);
        data(file_tag, content);
        file_end(file_tag, content);
        end(snapshot_tag, 1, content.size());
    }
    [[nodiscard]] std::uint64_t memory_used() const { return store.memory().used(); }
};

}  // namespace imgtest
