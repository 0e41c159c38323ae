// Encoding and decoding of img_streamer_request_entry / img_streamer_reply_entry.
#include "criu/stream_codec.hpp"

#include "criu_stream.pb.h"
#include "util/names.hpp"
#include "wire/frame.hpp"

namespace imgx::criu {

std::string decode_stream_request(std::string_view body) {
    img_streamer_request_entry request;
    wire::decode_body(body, request, "stream request");
    if (auto problem = image_name_problem(request.filename()))
        throw wire::ProtocolError("bad file name in stream request: " + *problem);
    return request.filename();
}

std::string encode_stream_request(std::string_view filename) {
    img_streamer_request_entry request;
    request.set_filename(std::string(filename));
    return wire::encode_frame(request);
}

namespace {

std::string encode_stream_reply(bool exists) {
    img_streamer_reply_entry reply;
    reply.set_exists(exists);  // proto2 required: serialized even when false
    return wire::encode_frame(reply);
}

}  // namespace

const std::string& stream_reply_frame(bool exists) {
    static const std::string kNo = encode_stream_reply(false);
    static const std::string kYes = encode_stream_reply(true);
    return exists ? kYes : kNo;
}

bool decode_stream_reply(std::string_view body) {
    img_streamer_reply_entry reply;
    wire::decode_body(body, reply, "stream reply");
    return reply.exists();
}

}  // namespace imgx::criu
