// Frames of one lane of a link session, dispatched to its receiver and its flow.
#include "lane_reader.hpp"

#include <fmt/format.h>

#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "link/chunk_compression.hpp"
#include "link/link_codec.hpp"
#include "link/link_connection.hpp"

namespace imgx::cached {

namespace asio = boost::asio;

void LaneReader::check_current() const {
    if (!current()) throw link::LinkStalled("a newer connection took the session over");
}

asio::awaitable<void> LaneReader::run() {
    for (;;) {
        const auto header = co_await link::read_header(stream_);
        check_current();
        liveness_.heard(std::chrono::steady_clock::now());
        if (header.type == link::FrameType::data_at) {
            co_await read_data_at(header);
            continue;
        }
        if (header.type == link::FrameType::data_zstd) {
            co_await read_data_zstd(header);
            continue;
        }
        if (header.type == link::FrameType::data && session_->lanes.size() > 1)
            throw wire::ProtocolError(
                fmt::format("DATA frame on a link session of {} lanes (DATA_AT expected)",
                            session_->lanes.size()));
        if (header.type == link::FrameType::data) {
            co_await read_data(header);
            continue;
        }
        co_await read_message(header);
    }
}

asio::awaitable<void> LaneReader::read_data_at(const link::FrameHeader& header) {
    auto& flow = session_->lane(lane_).flow;
    std::array<unsigned char, link::kDataAtPrefixBytes> prefix_bytes;
    co_await asio::async_read(stream_, asio::buffer(prefix_bytes), asio::use_awaitable);
    check_current();
    const auto at = link::decode_data_at_prefix(prefix_bytes);
    chunk_.resize(header.body_length - link::kDataAtPrefixBytes);
    co_await asio::async_read(stream_, asio::buffer(chunk_), asio::use_awaitable);
    check_current();
    liveness_.heard(std::chrono::steady_clock::now());
    // A chunk that came ahead of its file's next byte is acknowledged once it is part of the
    // file, so the proxy keeps its buffer meanwhile (that bounds what waits here).
    const std::uint64_t frame = flow.counter().through() + 1;
    const bool held =
        session_->receiver.data_at_arrived(at.file_tag, at.offset, chunk_, lane_, frame);
    flow.received(link::kHeaderBytes + header.body_length, held);
    if (held) chunk_ = std::vector<char>();
}

asio::awaitable<void> LaneReader::read_data(const link::FrameHeader& header) {
    std::array<unsigned char, link::kDataTagBytes> tag_bytes;
    co_await asio::async_read(stream_, asio::buffer(tag_bytes), asio::use_awaitable);
    check_current();
    const std::size_t size = header.body_length - link::kDataTagBytes;
    char* into = session_->receiver.data_target(link::decode_data_tag(tag_bytes), size);
    co_await asio::async_read(stream_, asio::buffer(into, size), asio::use_awaitable);
    check_current();
    liveness_.heard(std::chrono::steady_clock::now());
    session_->receiver.data_arrived();
    session_->lane(lane_).flow.received(link::kHeaderBytes + header.body_length);
}

asio::awaitable<void> LaneReader::read_data_zstd(const link::FrameHeader& header) {
    auto& receiver = session_->receiver;
    if ((receiver.codecs() & link::kCodecZstd) == 0)
        throw wire::ProtocolError("DATA_ZSTD frame on a link session that did not accept zstd");
    std::array<unsigned char, link::kDataZstdPrefixBytes> prefix_bytes;
    co_await asio::async_read(stream_, asio::buffer(prefix_bytes), asio::use_awaitable);
    check_current();
    const auto at = link::decode_data_zstd_prefix(prefix_bytes);
    compressed_.resize(header.body_length - link::kDataZstdPrefixBytes);
    co_await asio::async_read(stream_, asio::buffer(compressed_), asio::use_awaitable);
    check_current();
    liveness_.heard(std::chrono::steady_clock::now());
    // Decompressed here, on the loop: zstd decompresses several times faster than it
    // compresses, and the checksum at FILE_END covers the original bytes.
    auto refuse = [&](const std::string& why) {
        return wire::ProtocolError(fmt::format("DATA_ZSTD chunk at offset {} of {}: {}", at.offset,
                                               receiver.describe_file(at.file_tag), why));
    };
    if (session_->lanes.size() <= 1) {
        char* into = receiver.data_target(at.file_tag, at.original_length);
        const auto why = link::decompress_chunk(compressed_.data(), compressed_.size(), into,
                                                at.original_length);
        if (!why.empty()) throw refuse(why);
        receiver.data_arrived();
        session_->lane(lane_).flow.received(link::kHeaderBytes + header.body_length);
        co_return;
    }
    chunk_.resize(at.original_length);
    const auto why = link::decompress_chunk(compressed_.data(), compressed_.size(), chunk_.data(),
                                            at.original_length);
    if (!why.empty()) throw refuse(why);
    auto& flow = session_->lane(lane_).flow;
    const std::uint64_t frame = flow.counter().through() + 1;
    const bool held = receiver.data_at_arrived(at.file_tag, at.offset, chunk_, lane_, frame);
    flow.received(link::kHeaderBytes + header.body_length, held);
    if (held) chunk_ = std::vector<char>();
}

asio::awaitable<void> LaneReader::read_message(const link::FrameHeader& header) {
    auto& flow = session_->lane(lane_).flow;
    const auto body = co_await link::read_body(stream_, header);
    check_current();
    if (header.type == link::FrameType::ack) {
        if (flow.acknowledged(body)) liveness_.acknowledged(std::chrono::steady_clock::now());
        co_return;
    }
    if (lane_ > 0)
        throw wire::ProtocolError(fmt::format("{} frame on lane {} (only lane 0 carries messages)",
                                              link::frame_type_name(header.type), lane_));
    session_->receiver.on_message(header.type, body);
    flow.received(link::kHeaderBytes + header.body_length);
}

}  // namespace imgx::cached
