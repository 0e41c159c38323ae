// Chunks compressed beside the event loop and handed to the link in each snapshot's order.
#include "chunk_outbox.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <cstring>
#include <vector>

#include "outgoing_snapshot.hpp"
#include "proxy_metrics.hpp"
#include "snapshot_sender.hpp"

namespace imgx::proxyd {

namespace asio = boost::asio;

struct ChunkOutbox::Item {
    std::uint64_t snapshot_tag = 0;
    std::string message;  // a message frame; empty for a chunk
    std::uint64_t file_tag = 0;
    std::uint64_t offset = 0;
    PooledBuffer buffer;       // kept alive while a worker compresses it
    std::size_t size = 0;      // bytes to send (compressed or not)
    std::size_t original = 0;  // bytes of the file
    std::shared_ptr<OutgoingSnapshot> snapshot;
    bool ready = true;
    bool dropped = false;
};

ChunkOutbox::ChunkOutbox(const asio::any_io_executor& ex, FrameSink& sink, WorkerPool* workers,
                         std::function<link::LinkPressure()> pressure)
    : ex_(ex), sink_(sink), workers_(workers), pressure_(std::move(pressure)) {}

ChunkOutbox::~ChunkOutbox() { drop_all(); }

std::uint32_t ChunkOutbox::offered_codecs() const noexcept {
    return settings_.mode != link::CompressMode::off && workers_ ? link::kCodecZstd : 0;
}

void ChunkOutbox::chunk(const std::shared_ptr<OutgoingSnapshot>& snapshot, std::uint64_t file_tag,
                        std::uint64_t offset, PooledBuffer buffer, std::size_t size) {
    auto& history = history_[file_tag];
    link::CompressInputs in{.mode = workers_ ? settings_.mode : link::CompressMode::off,
                            .peer_accepts = peer_accepts_};
    if (in.mode == link::CompressMode::automatic && peer_accepts_) {
        in.link = pressure_ ? pressure_() : link::LinkPressure{};
        in.workers_pending = workers_->pending();
        in.workers = workers_->threads();
    }
    const auto choice = link::choose_compression(in, history);
    if (choice == link::CompressChoice::plain_incompressible) link::note_skipped(history);
    auto item = std::make_shared<Item>(Item{.snapshot_tag = snapshot->tag(),
                                            .file_tag = file_tag,
                                            .offset = offset,
                                            .buffer = std::move(buffer),
                                            .size = size,
                                            .original = size,
                                            .snapshot = snapshot});
    auto queue = queues_.find(snapshot->tag());
    if (choice != link::CompressChoice::compress && queue == queues_.end()) {
        send(*item);
        return;
    }
    if (queue == queues_.end())
        queue = queues_.emplace(snapshot->tag(), std::deque<ItemPtr>{}).first;
    queue->second.push_back(item);
    if (choice != link::CompressChoice::compress) return;
    item->ready = false;
    asio::co_spawn(ex_, compress(item, alive_), asio::detached);
}

void ChunkOutbox::message(std::uint64_t snapshot_tag, std::string frame) {
    auto queue = queues_.find(snapshot_tag);
    if (queue == queues_.end()) {
        sink_.send_message(std::move(frame));
        return;
    }
    auto item = std::make_shared<Item>();
    item->snapshot_tag = snapshot_tag;
    item->message = std::move(frame);
    queue->second.push_back(std::move(item));
}

asio::awaitable<void> ChunkOutbox::compress(ItemPtr item, std::weak_ptr<int> alive) {
    char* data = item->buffer.data();
    const std::size_t size = item->original;
    const int level = settings_.level;
    std::size_t compressed = 0;
    try {
        // On a worker: only the buffer's bytes (kept alive by `item`) and the worker's scratch.
        // A named job: gcc 12 destroys a lambda written inside a co_await expression twice.
        auto job = [data, size, level]() -> std::size_t {
            thread_local std::vector<char> scratch;
            scratch.resize(size);
            const std::size_t n = link::compress_chunk(data, size, scratch.data(),
                                                       link::shrunk_capacity(size), level);
            if (n > 0) std::memcpy(data, scratch.data(), n);
            return n;
        };
        compressed = co_await workers_->run(std::move(job));
    } catch (const std::exception&) {
        compressed = 0;  // sent as it is
    }
    // Back on the loop: the outbox (or the item's snapshot) may be gone by now.
    if (alive.expired() || item->dropped) co_return;
    auto history = history_.find(item->file_tag);
    if (history != history_.end()) link::note_compressed(history->second, compressed > 0);
    if (compressed > 0) item->size = compressed;
    item->ready = true;
    flush(item->snapshot_tag);
}

void ChunkOutbox::flush(std::uint64_t snapshot_tag) {
    auto queue = queues_.find(snapshot_tag);
    if (queue == queues_.end()) return;
    auto& items = queue->second;
    while (!items.empty() && items.front()->ready) {
        const ItemPtr item = std::move(items.front());
        items.pop_front();
        send(*item);
    }
    if (items.empty()) queues_.erase(queue);
}

void ChunkOutbox::send(Item& item) {
    if (!item.message.empty()) {
        sink_.send_message(std::move(item.message));
        return;
    }
    auto& metrics = proxy_metrics();
    metrics.chunk_bytes += item.original;
    metrics.chunk_link_bytes += item.size;
    if (item.size != item.original) ++metrics.compressed_chunks;
    item.snapshot->add_link_bytes(item.original, item.size);
    sink_.send_chunk(item.file_tag, item.offset, std::move(item.buffer), item.size, item.original);
}

void ChunkOutbox::drop(std::uint64_t snapshot_tag) {
    auto queue = queues_.find(snapshot_tag);
    if (queue == queues_.end()) return;
    for (auto& item : queue->second) item->dropped = true;
    queues_.erase(queue);
}

void ChunkOutbox::drop_all() {
    for (auto& [tag, items] : queues_)
        for (auto& item : items) item->dropped = true;
    queues_.clear();
    history_.clear();
}

}  // namespace imgx::proxyd
