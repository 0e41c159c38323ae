// Classification and encoding of img-remote frames.
#include "criu/remote_codec.hpp"

#include "criu_remote.pb.h"
#include "util/names.hpp"
#include "wire/frame.hpp"

namespace imgx::criu {

namespace {

constexpr std::string_view kParentName = "parent";
constexpr std::string_view kG1ControlId = "null";
constexpr std::string_view kG1DumpFinish = "DUMP_FINISH";
constexpr std::string_view kG1RestoreFinish = "RESTORE_FINISH";

RemoteRequest classify_control(const local_image_entry& e, bool g1) {
    const std::string& name = e.name();
    const auto mode = e.open_mode();
    RemoteRequest r{RemoteRequest::Kind::finish_dump, name, e.snapshot_id(), g1};
    if (name == kParentName && mode == kOpenAppend)
        r.kind = RemoteRequest::Kind::push_id;
    else if (name == kParentName && mode == kOpenRead)
        r.kind = RemoteRequest::Kind::pull_ids;
    else if ((name.empty() || name == kG1DumpFinish) && mode != kOpenRead)
        r.kind = RemoteRequest::Kind::finish_dump;
    else if ((name.empty() || name == kG1RestoreFinish) && mode == kOpenRead)
        r.kind = RemoteRequest::Kind::finish_restore;
    else
        throw wire::ProtocolError("unknown control request '" + name + "' with open_mode " +
                                  std::to_string(mode));
    return r;
}

}  // namespace

std::string_view kind_name(RemoteRequest::Kind kind) {
    switch (kind) {
        case RemoteRequest::Kind::write:
            return "write";
        case RemoteRequest::Kind::read:
            return "read";
        case RemoteRequest::Kind::push_id:
            return "push";
        case RemoteRequest::Kind::pull_ids:
            return "pull";
        case RemoteRequest::Kind::finish_dump:
            return "dump finish";
        case RemoteRequest::Kind::finish_restore:
            return "restore finish";
    }
    return "unknown";
}

RemoteRequest decode_remote_request(std::string_view body) {
    local_image_entry e;
    wire::decode_body(body, e, "img-remote request");
    if (e.snapshot_id().empty()) return classify_control(e, false);
    if (e.snapshot_id() == kG1ControlId) return classify_control(e, true);
    if (auto problem = snapshot_id_problem(e.snapshot_id()))
        throw wire::ProtocolError("bad snapshot id in img-remote request: " + *problem);
    if (auto problem = image_name_problem(e.name()))
        throw wire::ProtocolError("bad image name in img-remote request: " + *problem);
    // CRIU's own daemons: read is mode 0, anything else is a write.
    const auto kind =
        e.open_mode() == kOpenRead ? RemoteRequest::Kind::read : RemoteRequest::Kind::write;
    return {kind, e.name(), e.snapshot_id(), false};
}

std::string decode_snapshot_id_entry(std::string_view body) {
    snapshot_id_entry e;
    wire::decode_body(body, e, "snapshot_id_entry");
    if (auto problem = snapshot_id_problem(e.snapshot_id()))
        throw wire::ProtocolError("bad pushed snapshot id: " + *problem);
    return e.snapshot_id();
}

const std::string& remote_reply_frame(std::uint32_t error) {
    static const auto encode = [](std::uint32_t value) {
        local_image_reply_entry reply;
        reply.set_error(value);  // proto2 required: serialized even when 0
        return wire::encode_frame(reply);
    };
    static const std::string kOk = encode(kReplyOk), kNoImage = encode(kReplyNoImage),
                             kFailed = encode(kReplyFailed);
    switch (error) {
        case kReplyOk:
            return kOk;
        case kReplyNoImage:
            return kNoImage;
        default:
            return kFailed;
    }
}

std::string snapshot_id_frame(const std::string& id) {
    snapshot_id_entry e;
    e.set_snapshot_id(id);
    return wire::encode_frame(e);
}

std::string encode_remote_request(std::string_view name, std::string_view snapshot_id,
                                  std::uint32_t open_mode) {
    local_image_entry e;
    e.set_name(std::string(name));
    e.set_snapshot_id(std::string(snapshot_id));
    e.set_open_mode(open_mode);
    return wire::encode_frame(e);
}

std::uint32_t decode_remote_reply(std::string_view body) {
    local_image_reply_entry reply;
    wire::decode_body(body, reply, "img-remote reply");
    return reply.error();
}

}  // namespace imgx::criu
