// CRIU's pipe (or G2 socket) -> link: the proxy's data path.
#include "pipe_drain.hpp"

#include <xxhash.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <memory>

#include "proxy_metrics.hpp"

namespace imgx::proxyd {

namespace asio = boost::asio;

namespace {

struct HashStateDeleter {
    void operator()(XXH3_state_t* s) const noexcept { XXH3_freeState(s); }
};

}  // namespace

template <typename Source>
asio::awaitable<std::optional<std::uint64_t>> drain_to_link(
    Source& source, const std::string& name, const std::shared_ptr<OutgoingSnapshot>& snapshot,
    LinkClient& link, BufferPool& pool, std::string_view first_bytes, const KeepChunk& keep) {
    auto& read_bytes = proxy_metrics().read_bytes;
    const metrics::GaugeGuard reading(proxy_metrics().files_reading);
    std::unique_ptr<XXH3_state_t, HashStateDeleter> hash(XXH3_createState());
    XXH3_64bits_reset(hash.get());
    const std::uint64_t tag = link.begin_file(snapshot, name);
    std::uint64_t total = 0;
    bool eof = false;
    while (!eof) {
        // Waiting for a free buffer is the backpressure: CRIU's pipe fills and CRIU waits.
        PooledBuffer buffer = co_await pool.acquire();
        if (snapshot->settled()) co_return std::nullopt;
        std::size_t size = std::min(first_bytes.size(), buffer.capacity());
        if (size > 0) {  // first_bytes may be empty with a null data(): no memcpy then (UBSan)
            std::memcpy(buffer.data(), first_bytes.data(), size);
            first_bytes.remove_prefix(size);
        }
        boost::system::error_code ec;
        if (size == 0) {
            size = co_await source.async_read_some(asio::buffer(buffer.data(), buffer.capacity()),
                                                   asio::redirect_error(asio::use_awaitable, ec));
            if (ec == asio::error::eof) break;
            if (ec)
                co_return std::nullopt;  // closed because the snapshot failed, or a real read error
        }
        // Take whatever else is already there, so one wake-up moves one large chunk.
        while (size < buffer.capacity()) {
            std::size_t more =
                source.read_some(asio::buffer(buffer.data() + size, buffer.capacity() - size), ec);
            if (ec == asio::error::eof) eof = true;
            if (ec) break;
            size += more;
        }
        XXH3_64bits_update(hash.get(), buffer.data(), size);
        if (keep && !keep(buffer.data(), size)) co_return std::nullopt;
        total += size;
        snapshot->add_read(size);
        read_bytes += size;
        link.send_data(snapshot, tag, std::move(buffer), size);
    }
    link.end_file(snapshot, tag, total, XXH3_64bits_digest(hash.get()));
    co_return total;
}

template asio::awaitable<std::optional<std::uint64_t>> drain_to_link(
    asio::posix::stream_descriptor&, const std::string&, const std::shared_ptr<OutgoingSnapshot>&,
    LinkClient&, BufferPool&, std::string_view, const KeepChunk&);
template asio::awaitable<std::optional<std::uint64_t>> drain_to_link(
    asio::local::stream_protocol::socket&, const std::string&,
    const std::shared_ptr<OutgoingSnapshot>&, LinkClient&, BufferPool&, std::string_view,
    const KeepChunk&);

}  // namespace imgx::proxyd
