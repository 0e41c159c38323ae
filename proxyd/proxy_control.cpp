// img-proxyd's side of the snapshot requests: its registry of outgoing dumps as a SnapshotBook.
#include "proxy_control.hpp"

#include <fmt/format.h>

#include <chrono>
#include <memory>

#include "control/endpoint_requests.hpp"
#include "control/snapshot_requests.hpp"

namespace imgx::proxyd {

namespace asio = boost::asio;

namespace {

constexpr const char* kDaemon = "img-proxyd";

void describe(const OutgoingSnapshot& s, control::SnapshotStatus& out) {
    using namespace std::chrono;
    const auto end = s.settled() ? s.finished() : steady_clock::now();
    const double seconds = duration<double>(end - s.started()).count();
    out.set_snapshot_id(s.id());
    out.set_generation(s.generation());
    out.set_protocol(s.protocol());
    out.set_state(std::string(state_name(s.state())));
    out.set_files(s.files());
    out.set_bytes(s.bytes_read());
    out.set_bytes_acked(s.bytes_acked());
    out.set_age_seconds(duration<double>(steady_clock::now() - s.started()).count());
    out.set_rate_bytes_per_second(seconds > 0 ? static_cast<double>(s.bytes_read()) / seconds : 0);
    out.set_error(s.error());
    // Every byte was read from CRIU once it is sending: what remains is the link.
    const bool total_known =
        s.state() == OutgoingState::sending || s.state() == OutgoingState::acknowledged;
    out.set_total_known(total_known);
    out.set_total_bytes(total_known ? s.bytes_read() : 0);
    out.set_duration_seconds(seconds);
    out.set_link_chunk_bytes(s.chunk_bytes());
    out.set_link_sent_bytes(s.link_bytes());
}

class OutgoingDump final : public control::DumpView {
  public:
    explicit OutgoingDump(std::shared_ptr<OutgoingSnapshot> s) : s_(std::move(s)) {}
    [[nodiscard]] std::uint64_t generation() const override { return s_->generation(); }
    [[nodiscard]] bool settled() const override { return s_->settled(); }
    [[nodiscard]] bool succeeded() const override {
        return s_->state() == OutgoingState::acknowledged;
    }
    [[nodiscard]] std::string error() const override { return s_->error(); }
    void describe(control::SnapshotStatus& out) const override { proxyd::describe(*s_, out); }
    asio::awaitable<void> wait_settled() override { return s_->wait_settled(); }

  private:
    std::shared_ptr<OutgoingSnapshot> s_;
};

class RegistryBook final : public control::SnapshotBook {
  public:
    RegistryBook(SnapshotRegistry& registry, LinkClient& link, RemoteChains& chains)
        : registry_(registry), link_(link), chains_(chains) {}

    [[nodiscard]] std::vector<std::shared_ptr<control::DumpView>> all() const override {
        return control::views_of<OutgoingDump>(registry_.all());
    }
    [[nodiscard]] std::shared_ptr<control::DumpView> find(const std::string& id) const override {
        return control::view_of<OutgoingDump>(registry_.find(id));
    }
    asio::awaitable<void> wait_change() override { return registry_.wait_change(); }
    bool drop(const std::string& id) override {
        // A stream dump still waiting for the link is cancelled before img-cached hears of it.
        const bool waiting = registry_.cancel_announcing(id);
        // An img-remote snapshot takes its whole pre-dump chain with it (also a push that waits
        // for the link, which the registry does not track yet).
        const bool chained = chains_.drop(id);
        if (waiting || chained) link_.wake_announcements();
        auto snapshot = registry_.find(id);
        if (!snapshot) return waiting || chained;
        if (!chained && !snapshot->settled())
            link_.abort_snapshot(snapshot, "dropped by the operator");
        registry_.forget(id);
        return true;
    }

  private:
    SnapshotRegistry& registry_;
    LinkClient& link_;
    RemoteChains& chains_;
};

}  // namespace

std::string describe_link(const LinkClient& link, const BufferPool* capture) {
    if (!capture) return link.describe();
    return fmt::format(
        "{}; capture buffer: {} bytes held (read from CRIU, not yet confirmed by img-cached) of "
        "{}",
        link.describe(), capture->filled_bytes(), capture->total_count() * capture->buffer_bytes());
}

control::Handler make_control_handler(criu::EndpointSet& endpoints, SnapshotRegistry& registry,
                                      LinkClient& link, RemoteChains& chains,
                                      const BufferPool* capture) {
    auto done = [&link, capture](bool ok, std::string error) {
        return control::final_response(kDaemon, describe_link(link, capture), ok, std::move(error));
    };
    return control::make_snapshot_handler(
        endpoints, std::make_shared<RegistryBook>(registry, link, chains), std::move(done));
}

}  // namespace imgx::proxyd
