// Fuzz target: the 4-byte-length frame reader every CRIU and control connection goes through
// (criu::read_frame on a real UNIX socket, and wire::decode_length / check_length).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/write.hpp>
#include <string>

#include "criu/framed_socket.hpp"
#include "fuzz_check.hpp"

using namespace imgx;
namespace asio = boost::asio;

namespace {

// The frame limit a fuzz input asks for: the first byte picks one of the daemons' own limits.
std::uint32_t limit_of(unsigned char selector) {
    switch (selector % 3) {
        case 0:
            return wire::kMaxFrameBody;
        case 1:
            return 64 * 1024;  // control requests
        default:
            return selector;  // small limits reach the over-limit path with short inputs
    }
}

// Reads frames until the end of `stream`; returns the bytes the frames accounted for.
std::size_t read_all(std::string_view stream, std::uint32_t limit, bool& rejected) {
    asio::io_context io;
    asio::local::stream_protocol::socket reader(io), writer(io);
    asio::local::connect_pair(reader, writer);
    asio::write(writer, asio::buffer(stream.data(), stream.size()));
    writer.shutdown(asio::socket_base::shutdown_send);
    std::size_t consumed = 0;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            try {
                for (;;) {
                    auto body = co_await criu::read_frame(reader, limit);
                    if (!body) co_return;
                    FUZZ_CHECK(body->size() <= limit);
                    // The reader must not read past a frame: what it returned is exactly the next
                    // frame.
                    FUZZ_CHECK(consumed + wire::kLengthBytes + body->size() <= stream.size());
                    FUZZ_CHECK(imgfuzz::length_prefix(stream.substr(consumed)) == body->size());
                    FUZZ_CHECK(stream.substr(consumed + wire::kLengthBytes, body->size()) == *body);
                    consumed += wire::kLengthBytes + body->size();
                }
            } catch (const wire::ProtocolError&) {
                rejected = true;
            }
        },
        asio::detached);
    io.run();
    return consumed;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint32_t limit = limit_of(data[0]);
    const std::string_view stream = imgfuzz::as_text(data + 1, size - 1);
    // A socket buffer holds far more than libFuzzer's default input size; stay below it.
    if (stream.size() > 64 * 1024) return 0;
    bool rejected = false;
    const std::size_t consumed = read_all(stream, limit, rejected);
    const std::string_view rest = stream.substr(consumed);
    if (rest.empty()) {
        FUZZ_CHECK(!rejected);
        return 0;
    }
    // Leftover bytes end the connection with an error: a partial frame or a length above the limit.
    FUZZ_CHECK(rejected);
    if (rest.size() >= wire::kLengthBytes) {
        const std::uint32_t length = imgfuzz::length_prefix(rest);
        FUZZ_CHECK(length > limit || rest.size() - wire::kLengthBytes < length);
        bool threw = false;
        try {
            wire::check_length(length, limit);
        } catch (const wire::ProtocolError&) {
            threw = true;
        }
        FUZZ_CHECK(threw == (length > limit));
    }
    return 0;
}
