// The chunks of img-proxyd's dumps on their way to the link: compressed beside the event loop
// when that pays (docs/link-protocol.md, "Compression"), and handed to the FrameSink in the
// order each snapshot queued them, so FILE_END and SNAPSHOT_END follow all of their chunks.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "link/chunk_compression.hpp"
#include "util/buffer_pool.hpp"
#include "util/worker_pool.hpp"

namespace imgx::proxyd {

class FrameSink;
class OutgoingSnapshot;

struct CompressSettings {
    link::CompressMode mode = link::CompressMode::off;
    int level = link::kDefaultCompressLevel;
};

class ChunkOutbox {
  public:
    // `workers` null: nothing is compressed. `pressure` says how the link stands (asked once per
    // chunk in `auto`).
    ChunkOutbox(const boost::asio::any_io_executor& ex, FrameSink& sink, WorkerPool* workers,
                std::function<link::LinkPressure()> pressure);
    ChunkOutbox(const ChunkOutbox&) = delete;
    ChunkOutbox& operator=(const ChunkOutbox&) = delete;
    ~ChunkOutbox();

    void set_settings(CompressSettings settings) { settings_ = settings; }
    [[nodiscard]] const CompressSettings& settings() const noexcept { return settings_; }
    // Whether img-cached accepted zstd for the current session (HELLO).
    void set_peer_accepts(bool accepts) { peer_accepts_ = accepts; }
    // What this side offers in its HELLO.
    [[nodiscard]] std::uint32_t offered_codecs() const noexcept;

    // `size` bytes of file `file_tag` at `offset`, of `snapshot`.
    void chunk(const std::shared_ptr<OutgoingSnapshot>& snapshot, std::uint64_t file_tag,
               std::uint64_t offset, PooledBuffer buffer, std::size_t size);
    // A message frame of the snapshot tagged `snapshot_tag` that must follow its queued chunks.
    void message(std::uint64_t snapshot_tag, std::string frame);
    // The file ended: its compression history goes.
    void forget_file(std::uint64_t file_tag) { history_.erase(file_tag); }
    // The snapshot's queued frames are dropped (it was aborted or settled); a chunk in a worker
    // is dropped when it comes back.
    void drop(std::uint64_t snapshot_tag);
    // The session ended: every queued frame is dropped.
    void drop_all();

  private:
    struct Item;
    using ItemPtr = std::shared_ptr<Item>;
    // Compresses `item` on a worker, then sends what is ready of its snapshot's queue.
    boost::asio::awaitable<void> compress(ItemPtr item, std::weak_ptr<int> alive);
    void flush(std::uint64_t snapshot_tag);
    void send(Item& item);

    boost::asio::any_io_executor ex_;
    FrameSink& sink_;
    WorkerPool* workers_;
    std::function<link::LinkPressure()> pressure_;
    CompressSettings settings_;
    bool peer_accepts_ = false;
    std::map<std::uint64_t, std::deque<ItemPtr>> queues_;  // by snapshot tag; only while waiting
    std::map<std::uint64_t, link::FileCompressHistory> history_;  // by file tag
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);       // jobs coming back check it
};

}  // namespace imgx::proxyd
