// Fuzz target: img-cached's session receiver fed a sequence of link frames (and aborts, drops and
// lost connections); the memory it holds stays within the budget and all of it comes back.
//
// Input (fuzz/session_receiver_input.hpp writes it): byte 0 picks the lanes (1-4), then events,
// each an op byte (mod kOps) and its arguments, big-endian; a truncated event ends the input.
#include <boost/asio/io_context.hpp>
#include <cstring>
#include <optional>

#include "cached/session_receiver.hpp"
#include "fuzz_check.hpp"
#include "link.pb.h"
#include "session_receiver_input.hpp"

using namespace imgx;
using namespace imgfuzz::receiver_input;

namespace {

constexpr std::uint64_t kBudget = 4 << 20;

class Reader {
  public:
    Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    bool has(std::size_t n) const { return size_ - at_ >= n; }
    std::uint64_t number(std::size_t bytes) {
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < bytes; ++i) v = (v << 8) | data_[at_++];
        return v;
    }
    std::string bytes(std::size_t n) {
        n = std::min(n, size_ - at_);
        std::string out(reinterpret_cast<const char*>(data_ + at_), n);
        at_ += n;
        return out;
    }

  private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t at_ = 0;
};

struct Rig {
    boost::asio::io_context io;
    store::ImageStore store{io.get_executor(), store::StoreSettings{"", kBudget}};
    std::optional<cached::SessionReceiver> rx;
    std::uint32_t lanes = 1;

    void new_session() {
        rx.emplace(
            store, [](link::FrameType, const google::protobuf::MessageLite&) {},
            [](std::uint32_t, std::uint64_t) {});
        rx->set_lanes(lanes);
        rx->set_peer("fuzz peer");
    }
    // The session ends (a lost connection, or a refused peer).
    void end_session() {
        rx->fail_unfinished("fuzz: session ended");
        new_session();
    }
    void check_memory() const {
        const auto& memory = store.memory();
        FUZZ_CHECK(memory.used() + memory.waiting_beyond() <=
                   kBudget + cached::SessionReceiver::kWaitingBeyondBudget);
    }
};

void message(Rig& r, link::FrameType type, const google::protobuf::MessageLite& m) {
    r.rx->on_message(type, m.SerializeAsString());
}

// One event; false once the input is used up.
bool step(Rig& r, Reader& in) {
    if (!in.has(1)) return false;
    const auto op = static_cast<Op>(in.number(1) % kOps);
    switch (op) {
        case Op::snapshot_begin: {
            if (!in.has(3)) return false;
            link::SnapshotBegin m;
            m.set_snapshot_tag(in.number(1));
            m.set_snapshot_id(kIds[in.number(1) % kIds.size()]);
            m.set_protocol(in.number(1) % 2 ? "remote" : "stream");
            message(r, link::FrameType::snapshot_begin, m);
            return true;
        }
        case Op::file_begin: {
            if (!in.has(3)) return false;
            link::FileBegin m;
            m.set_file_tag(in.number(1));
            m.set_snapshot_tag(in.number(1));
            m.set_name(in.bytes(in.number(1)));
            message(r, link::FrameType::file_begin, m);
            return true;
        }
        case Op::data: {
            if (!in.has(3)) return false;
            const auto tag = in.number(1);
            const std::string payload = in.bytes(in.number(2));
            if (r.lanes > 1) throw wire::ProtocolError("DATA on several lanes");  // lane_reader
            char* into = r.rx->data_target(tag, payload.size());
            if (!payload.empty()) std::memcpy(into, payload.data(), payload.size());
            r.rx->data_arrived();
            return true;
        }
        case Op::data_at: {
            if (!in.has(8)) return false;
            const auto tag = in.number(1);
            const auto offset = in.number(4);
            const auto lane = static_cast<std::uint32_t>(in.number(1) % r.lanes);
            const std::string payload = in.bytes(in.number(2));
            std::vector<char> chunk(payload.begin(), payload.end());
            r.rx->data_at_arrived(tag, offset, chunk, lane, 1);
            return true;
        }
        case Op::file_end: {
            if (!in.has(13)) return false;
            link::FileEnd m;
            m.set_file_tag(in.number(1));
            m.set_size(in.number(4));
            m.set_xxh3(in.number(8));
            message(r, link::FrameType::file_end, m);
            return true;
        }
        case Op::snapshot_end: {
            if (!in.has(7)) return false;
            link::SnapshotEnd m;
            m.set_snapshot_tag(in.number(1));
            m.set_file_count(static_cast<std::uint32_t>(in.number(2)));
            m.set_total_bytes(in.number(4));
            message(r, link::FrameType::snapshot_end, m);
            return true;
        }
        case Op::snapshot_abort: {
            if (!in.has(1)) return false;
            link::SnapshotAbort m;
            m.set_snapshot_tag(in.number(1));
            m.set_reason("fuzz");
            message(r, link::FrameType::snapshot_abort, m);
            return true;
        }
        case Op::drop:
            if (!in.has(1)) return false;
            r.store.drop(kIds[in.number(1) % kIds.size()]);
            return true;
        case Op::connection_lost:
            r.end_session();
            return true;
        case Op::raw_message: {
            if (!in.has(3)) return false;
            const auto type = static_cast<link::FrameType>(in.number(1));
            r.rx->on_message(type, in.bytes(in.number(2)));
            return true;
        }
    }
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    Rig r;
    r.lanes = 1 + data[0] % 4;
    r.new_session();
    Reader in(data + 1, size - 1);
    for (;;) {
        try {
            if (!step(r, in)) break;
        } catch (const wire::ProtocolError&) {
            r.end_session();  // the peer is refused: its session ends
        }
        r.check_memory();
    }
    r.rx->fail_unfinished("fuzz: input ended");
    FUZZ_CHECK(r.rx->open_files() == 0);
    FUZZ_CHECK(r.rx->waiting_bytes() == 0);
    for (const auto& id : kIds) r.store.drop(id);
    FUZZ_CHECK(r.store.memory().used() == 0);
    FUZZ_CHECK(r.store.memory().waiting() == 0);
    return 0;
}
