// img-cached's side of the snapshot requests: its image store as a SnapshotBook.
#include "cache_control.hpp"

#include <chrono>
#include <memory>

#include "control/endpoint_requests.hpp"
#include "control/snapshot_requests.hpp"

namespace imgx::cached {

namespace asio = boost::asio;

namespace {

constexpr const char* kDaemon = "img-cached";

bool is_settled(const store::Snapshot& s) { return s.state() != store::SnapshotState::receiving; }

void describe(const store::Snapshot& s, control::SnapshotStatus& out) {
    using namespace std::chrono;
    const bool settled = is_settled(s);
    const double seconds =
        duration<double>((settled ? s.settled() : steady_clock::now()) - s.started()).count();
    const std::uint64_t bytes = s.byte_count() + s.bytes_in_flight;
    out.set_snapshot_id(s.id());
    out.set_generation(s.generation());
    out.set_protocol(s.protocol());
    out.set_state(std::string(store::state_name(s.state())));
    out.set_files(s.file_count());
    out.set_bytes(bytes);
    out.set_bytes_acked(s.byte_count());
    out.set_age_seconds(duration<double>(steady_clock::now() - s.started()).count());
    out.set_rate_bytes_per_second(seconds > 0 ? static_cast<double>(bytes) / seconds : 0);
    out.set_error(s.error());
    out.set_readers(s.readers);
    // The size of a dump is announced only by its end.
    const bool total_known = s.state() == store::SnapshotState::complete;
    out.set_total_known(total_known);
    out.set_total_bytes(total_known ? s.byte_count() : 0);
    out.set_duration_seconds(seconds);
}

class StoredDump final : public control::DumpView {
  public:
    explicit StoredDump(std::shared_ptr<store::Snapshot> s) : s_(std::move(s)) {}
    [[nodiscard]] std::uint64_t generation() const override { return s_->generation(); }
    [[nodiscard]] bool settled() const override { return is_settled(*s_); }
    [[nodiscard]] bool succeeded() const override {
        return s_->state() == store::SnapshotState::complete;
    }
    [[nodiscard]] std::string error() const override { return s_->error(); }
    void describe(control::SnapshotStatus& out) const override { cached::describe(*s_, out); }
    asio::awaitable<void> wait_settled() override { co_await s_->wait_settled(); }

  private:
    std::shared_ptr<store::Snapshot> s_;
};

class StoreBook final : public control::SnapshotBook {
  public:
    explicit StoreBook(store::ImageStore& store) : store_(store) {}

    [[nodiscard]] std::vector<std::shared_ptr<control::DumpView>> all() const override {
        return control::views_of<StoredDump>(store_.all());
    }
    [[nodiscard]] std::shared_ptr<control::DumpView> find(const std::string& id) const override {
        return control::view_of<StoredDump>(store_.find(id));
    }
    asio::awaitable<void> wait_change() override { return store_.wait_change(); }
    bool drop(const std::string& id) override { return store_.drop(id); }

  private:
    store::ImageStore& store_;
};

}  // namespace

control::Handler make_control_handler(criu::EndpointSet& endpoints, store::ImageStore& store,
                                      const std::string& listening) {
    auto done = [listening](bool ok, std::string error) {
        return control::final_response(kDaemon, listening, ok, std::move(error));
    };
    return control::make_snapshot_handler(endpoints, std::make_shared<StoreBook>(store),
                                          std::move(done));
}

}  // namespace imgx::cached
