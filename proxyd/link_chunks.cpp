// How LinkClient puts file chunks on its lanes (DATA, DATA_AT or DATA_ZSTD, the lane where a
// chunk arrives first), and how loaded the lanes are (for compression in `auto`).
#include "link_client.hpp"

namespace imgx::proxyd {

void LinkClient::send_chunk(std::uint64_t file_tag, std::uint64_t offset, PooledBuffer buffer,
                            std::size_t size, std::size_t original) {
    LinkFrame frame;
    frame.buffer = std::move(buffer);
    frame.size = size;
    frame.original = original;
    unwritten_chunk_bytes_ += size;
    const auto length = static_cast<std::uint32_t>(size);
    if (size != original) {
        frame.data_header = link::encode_data_zstd_header(
            file_tag, offset, static_cast<std::uint32_t>(original), length);
        frame.header_size = frame.data_header.size();
    } else if (lanes_ <= 1) {
        const auto header = link::encode_data_header(file_tag, length);
        std::copy(header.begin(), header.end(), frame.data_header.begin());
        frame.header_size = header.size();
    } else {
        const auto header = link::encode_data_at_header(file_tag, offset, length);
        std::copy(header.begin(), header.end(), frame.data_header.begin());
        frame.header_size = header.size();
    }
    if (lanes_ <= 1) {
        flow_.send(std::move(frame));
        return;
    }
    // Several lanes: the chunk goes to the lane that is up where it would arrive first
    // (LaneLoad; two system calls per lane per chunk of up to 1 MiB).
    observe_lanes();
    auto up = [this](std::size_t n) { return n == 0 ? connected_ : extra_[n - 1]->connected; };
    const std::size_t lane = load_.choose(up, size);
    const std::uint64_t number = flow_of(lane).send(std::move(frame));
    load_.queued(lane, number, size);
}

void LinkClient::observe_lanes() {
    auto up = [this](std::size_t n) { return n == 0 ? connected_ : extra_[n - 1]->connected; };
    const auto now = std::chrono::steady_clock::now();
    for (std::size_t n = 0; n < lanes_ && n < load_.lanes(); ++n) {
        const auto& socket = n == 0 ? socket_ : extra_[n - 1]->socket;
        TcpProgress tcp;
        if (socket && up(n)) tcp = socket->tcp_progress();
        load_.observe(n, flow_of(n).window().written(), tcp.queued, tcp.acknowledged, now);
    }
}

link::LinkPressure LinkClient::pressure() {
    observe_lanes();
    link::LinkPressure out;
    for (std::size_t n = 0; n < lanes_ && n < load_.lanes(); ++n) {
        out.backlog_bytes += load_.on_the_way(n);
        out.delivery_rate += load_.rate(n);
    }
    // LaneLoad counts the unwritten chunks of DATA_AT lanes; one lane's are counted here.
    if (lanes_ <= 1) out.backlog_bytes += unwritten_chunk_bytes_;
    return out;
}

}  // namespace imgx::proxyd
