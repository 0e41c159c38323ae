// The event loop's half of a captured file: hashing and sending what the capture thread read.
#include "captured_file.hpp"

#include "proxy_metrics.hpp"

namespace imgx::proxyd {

CapturedFile::CapturedFile(const boost::asio::any_io_executor& ex, std::string name,
                           std::shared_ptr<OutgoingSnapshot> snapshot, LinkClient& link)
    : name_(std::move(name)),
      snapshot_(std::move(snapshot)),
      link_(link),
      tag_(link_.begin_file(snapshot_, name_)),
      hash_(XXH3_createState()),
      done_(ex) {
    XXH3_64bits_reset(hash_);
}

CapturedFile::~CapturedFile() { XXH3_freeState(hash_); }

void CapturedFile::on_data(PooledBuffer buffer, std::size_t size) {
    if (snapshot_->settled()) return;  // the buffer goes back now
    XXH3_64bits_update(hash_, buffer.data(), size);
    total_ += size;
    snapshot_->add_read(size);
    proxy_metrics().read_bytes += size;
    link_.send_data(snapshot_, tag_, std::move(buffer), size);
}

void CapturedFile::on_end(CaptureEnd end) {
    ended_ = true;
    if (end == CaptureEnd::eof && !snapshot_->settled()) {
        link_.end_file(snapshot_, tag_, total_, XXH3_64bits_digest(hash_));
        result_ = total_;
    }
    done_.notify();
}

boost::asio::awaitable<std::optional<std::uint64_t>> CapturedFile::finished() {
    while (!ended_) co_await done_.wait();
    co_return result_;
}

}  // namespace imgx::proxyd
