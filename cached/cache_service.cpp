// img-cached's parts for the daemon shell: store, serve endpoints, link listener, status, reload,
// drain.
#include "cache_service.hpp"

#include <fmt/format.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <limits>
#include <stdexcept>

#include "cache_control.hpp"
#include "cache_metrics.hpp"
#include "criu/remote_codec.hpp"
#include "criu/stream_codec.hpp"
#include "link_listener.hpp"
#include "link_sessions.hpp"
#include "remote_serve.hpp"
#include "state_dir.hpp"
#include "store/image_store.hpp"
#include "stream_serve.hpp"

namespace imgx::cached {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// Time for the restores waiting on a failed snapshot to close their connections.
constexpr auto kFailurePropagation = 200ms;

bool receiving(const store::Snapshot& s) { return s.state() == store::SnapshotState::receiving; }

// Faults in `mib` of blocks before anything listens (prefault_mib): the first dump then receives
// into memory the kernel has already backed. Throws if the memory is not there.
void prefault_image_memory(store::BlockPool& blocks, std::uint64_t mib) {
    const auto started = std::chrono::steady_clock::now();
    const auto count =
        static_cast<std::size_t>(((mib << 20) + blocks.block_bytes() - 1) / blocks.block_bytes());
    try {
        blocks.prefault(count);
    } catch (const std::bad_alloc&) {
        throw std::runtime_error(
            fmt::format("prefault_mib = {}: cannot allocate that much memory for images", mib));
    }
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
    spdlog::info("prefaulted {} MiB of image memory ({} blocks) in {:.2f} s", mib, count,
                 took.count());
}

class CacheDaemon final : public Daemon<CacheOptions> {
  public:
    // With a state directory, the snapshots kept there are verified and loaded before anything
    // listens, so the first restore already finds them.
    CacheDaemon(const asio::any_io_executor& ex, const CacheOptions& options,
                std::shared_ptr<link::LinkTls> tls)
        : ex_(ex),
          options_(options),
          tls_(std::move(tls)),
          store_(ex, store::StoreSettings{options.spool_dir, options.memory_budget_mib << 20},
                 open_state_dir(options)),
          remote_{options.remote_reads_on_socket, std::chrono::seconds(options.remote_wait_seconds),
                  std::chrono::seconds(options.serve_wait_seconds)},
          endpoints_(
              ex,
              {{std::string(criu::kStreamServeSocket), "stream"},
               {std::string(criu::kRemoteCacheSocket), "remote"}},
              [this](asio::local::stream_protocol::socket socket, const criu::Endpoint& endpoint,
                     const criu::SocketKind& kind) { accept(std::move(socket), endpoint, kind); }),
          sessions_(ex, store_, std::chrono::seconds(options.link_resume_seconds)) {
        if (options.prefault_mib > 0) prefault_image_memory(store_.blocks(), options.prefault_mib);
        if (state_dir_) count_state_load(*state_dir_);
    }

    criu::EndpointSet& endpoints() override { return endpoints_; }
    void open_listeners(PassedSockets& passed) override {
        if (auto fd = passed.take_tcp_listener("link", options_.listen, "listen"))
            listener_ = std::make_unique<LinkListener>(ex_, std::move(*fd), sessions_, tls_);
        else
            listener_ = std::make_unique<LinkListener>(ex_, options_.listen, sessions_, tls_);
    }
    control::Handler control_handler() override {
        return make_control_handler(endpoints_, store_, "listening on " + listener_->bound());
    }
    std::unique_ptr<metrics::MetricsServer> start_metrics() override {
        return cached::start_metrics(ex_, options_, store_);
    }
    std::string ready_line(const std::string& control_path) const override {
        return fmt::format(
            "img-cached {} ready: link on {}, {} serve endpoint(s), control socket {}",
            IMGX_VERSION, listener_->bound(), endpoints_.list().size(), control_path);
    }
    void set_tls(std::shared_ptr<link::LinkTls> tls) override {
        listener_->set_tls(std::move(tls));
    }
    void reload(const CacheOptions& next) override {
        remote_.wait_limit = std::chrono::seconds(next.remote_wait_seconds);
        remote_.serve_wait = std::chrono::seconds(next.serve_wait_seconds);
        listener_->sessions().set_resume(std::chrono::seconds(next.link_resume_seconds));
    }

    ServiceLoad load() const override {
        ServiceLoad load;
        for (const auto& s : store_.all()) {
            load.bytes += s->byte_count() + s->bytes_in_flight;
            if (receiving(*s)) ++load.active;
        }
        load.note = fmt::format("link on {}", listener_->bound());
        return load;
    }
    void stop_accepting() override { listener_->close(); }
    std::vector<std::string> in_flight() const override {
        std::vector<std::string> lines;
        for (const auto& s : store_.all()) {
            if (receiving(*s))
                lines.push_back(fmt::format(
                    "snapshot '{}' receiving ({} files, {} bytes so far, {} restore(s) reading)",
                    s->id(), s->file_count(), s->byte_count() + s->bytes_in_flight, s->readers));
            else if (s->readers > 0)
                lines.push_back(fmt::format("snapshot '{}' {}, {} restore(s) reading", s->id(),
                                            store::state_name(s->state()), s->readers));
        }
        return lines;
    }
    asio::awaitable<void> fail_in_flight() override {
        for (const auto& s : store_.all())
            if (receiving(*s))
                s->mark_failed(
                    "img-cached stopped before the dump finished (shutdown grace period over)");
        asio::steady_timer timer(co_await asio::this_coro::executor, kFailurePropagation);
        co_await timer.async_wait(asio::use_awaitable);
    }

  private:
    // The state directory (null without state_dir), owned by the store; kept here for counting.
    std::unique_ptr<StateDir> open_state_dir(const CacheOptions& options) {
        if (options.state_dir.empty()) return nullptr;
        auto state = std::make_unique<StateDir>(options.state_dir);
        state_dir_ = state.get();
        return state;
    }
    void accept(asio::local::stream_protocol::socket socket, const criu::Endpoint& endpoint,
                const criu::SocketKind& kind) {
        if (kind.protocol == "remote")
            asio::co_spawn(ex_, run_remote_serve(std::move(socket), endpoint, store_, remote_),
                           asio::detached);
        else
            asio::co_spawn(
                ex_, run_stream_serve(std::move(socket), endpoint, store_, remote_.serve_wait),
                asio::detached);
    }

    asio::any_io_executor ex_;
    const StateDir* state_dir_ = nullptr;  // set while store_ is made (open_state_dir)
    const CacheOptions& options_;  // the running options (the shell's; restart settings fixed)
    std::shared_ptr<link::LinkTls> tls_;  // for the listener; null: plain TCP
    store::ImageStore store_;
    RemoteServeOptions remote_;  // read by each new --remote restore connection
    criu::EndpointSet endpoints_;
    LinkSessions sessions_;
    std::unique_ptr<LinkListener> listener_;
};

}  // namespace

void tune_memory(const CacheOptions&) {
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
}

std::unique_ptr<Daemon<CacheOptions>> build_cache_daemon(const asio::any_io_executor& ex,
                                                         const CacheOptions& options,
                                                         std::shared_ptr<link::LinkTls> tls) {
    return std::make_unique<CacheDaemon>(ex, options, std::move(tls));
}

}  // namespace imgx::cached
