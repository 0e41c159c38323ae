// Fuzz target: CRIU --remote connections (local_image_entry, snapshot_id_entry and reply frames),
// in the G3/G2 form (control id "") and the G1 form (control id "null").
#include "criu/remote_codec.hpp"
#include "fuzz_check.hpp"
#include "util/names.hpp"

using namespace imgx;
using Kind = criu::RemoteRequest::Kind;

namespace {

// The open_mode CRIU sends for a request of `kind`.
std::uint32_t mode_of(Kind kind) {
    switch (kind) {
        case Kind::read:
        case Kind::pull_ids:
        case Kind::finish_restore:
            return criu::kOpenRead;
        case Kind::push_id:
            return criu::kOpenAppend;
        case Kind::write:
        case Kind::finish_dump:
            return criu::kOpenWrite;
    }
    return criu::kOpenWrite;
}

std::string_view body_of(const std::string& frame) {
    FUZZ_CHECK(imgfuzz::length_prefix(frame) == frame.size() - wire::kLengthBytes);
    return std::string_view(frame).substr(wire::kLengthBytes);
}

// Checks the first frame of a connection; returns true if a snapshot_id_entry follows it.
bool check_request(std::string_view body) {
    criu::RemoteRequest request;
    try {
        request = criu::decode_remote_request(body);
    } catch (const wire::ProtocolError&) {
        return false;
    }
    FUZZ_CHECK(criu::kind_name(request.kind) != "unknown");
    const bool control = request.snapshot_id.empty() || request.snapshot_id == "null";
    if (request.kind == Kind::read || request.kind == Kind::write) {
        // An image request names a real image of a real snapshot.
        FUZZ_CHECK(!control);
        FUZZ_CHECK(!request.g1_control);
        FUZZ_CHECK(!image_name_problem(request.name));
        FUZZ_CHECK(!snapshot_id_problem(request.snapshot_id));
    } else {
        FUZZ_CHECK(control);
        FUZZ_CHECK(request.g1_control == (request.snapshot_id == "null"));
    }
    if (request.kind == Kind::push_id || request.kind == Kind::pull_ids)
        FUZZ_CHECK(request.name == "parent");
    const std::string frame =
        criu::encode_remote_request(request.name, request.snapshot_id, mode_of(request.kind));
    const auto again = criu::decode_remote_request(body_of(frame));
    FUZZ_CHECK(again.kind == request.kind);
    FUZZ_CHECK(again.name == request.name);
    FUZZ_CHECK(again.snapshot_id == request.snapshot_id);
    FUZZ_CHECK(again.g1_control == request.g1_control);
    return request.kind == Kind::push_id;
}

void check_snapshot_id_entry(std::string_view body) {
    std::string id;
    try {
        id = criu::decode_snapshot_id_entry(body);
    } catch (const wire::ProtocolError&) {
        return;
    }
    FUZZ_CHECK(!snapshot_id_problem(id));
    FUZZ_CHECK(criu::decode_snapshot_id_entry(body_of(criu::snapshot_id_frame(id))) == id);
}

void check_reply(std::string_view body) {
    std::uint32_t error = 0;
    try {
        error = criu::decode_remote_reply(body);
    } catch (const wire::ProtocolError&) {
        return;
    }
    // We answer only 0, 2 or 5; any other value becomes 5 (a hard failure for CRIU).
    const bool known = error == criu::kReplyOk || error == criu::kReplyNoImage;
    const std::uint32_t answered =
        criu::decode_remote_reply(body_of(criu::remote_reply_frame(error)));
    FUZZ_CHECK(answered == (known ? error : criu::kReplyFailed));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    bool first = true;
    bool id_follows = false;
    try {
        imgfuzz::for_each_frame(imgfuzz::as_text(data, size), [&](std::string_view body) {
            if (first)
                id_follows = check_request(body);
            else if (id_follows)
                check_snapshot_id_entry(body);
            check_reply(body);
            first = false;
        });
    } catch (const wire::ProtocolError&) {
        // A length above the limit: the daemon closes the connection.
    }
    return 0;
}
