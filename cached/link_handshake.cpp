// The handshake of a connection from img-proxyd: HELLO in, session opened or resumed, HELLO out.
#include "link_handshake.hpp"

#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "link.pb.h"
#include "link/link_codec.hpp"
#include "link/link_connection.hpp"
#include "util/log.hpp"

namespace imgx::cached {

namespace asio = boost::asio;

namespace {

// Used when a proxy's HELLO names no idle timeout.
constexpr std::chrono::seconds kDefaultIdleTimeout{15};

void log_joined(const std::string& peer, const link::Hello& hello, const link::Hello& answer,
                bool resumed) {
    const LogFields fields{.peer = peer};
    if (answer.lane() > 0)
        log_info(fields,
                 "img-proxyd on {} ({}) joined link session {:016x} as lane {} after frame {}",
                 peer, hello.node(), answer.session(), answer.lane(), answer.received_through());
    else if (resumed)
        log_info(fields, "img-proxyd on {} ({}) resumed link session {:016x} after frame {}", peer,
                 hello.node(), answer.session(), answer.received_through());
    else
        log_info(fields, "img-proxyd on {} ({}) connected", peer, hello.node());
}

}  // namespace

asio::awaitable<void> exchange_hello(link::LinkStream& stream, LinkSessions& sessions,
                                     const std::string& peer, AttachedLane& attached) {
    const auto hello = co_await link::read_hello(stream, "first frame is not HELLO");
    if (hello.session() == 0) throw wire::ProtocolError("HELLO names no link session");
    auto opened = sessions.open(hello, peer);
    auto& slot = opened.session->lane(opened.lane);
    attached = {opened.session, opened.lane, slot.connection, kDefaultIdleTimeout};
    if (hello.idle_timeout_ms() > 0)
        attached.idle = std::chrono::milliseconds(hello.idle_timeout_ms());
    slot.close_connection = [&stream] { stream.close(); };
    // A new session takes the codecs offered on its lane 0 that this cache decodes; a resumed
    // session or a lane above 0 keeps what lane 0 agreed.
    if (!opened.resumed && opened.lane == 0)
        opened.session->receiver.set_codecs(
            link::negotiate_codecs(hello.codecs(), link::kCodecZstd));
    link::Hello answer;
    answer.set_version(link::kVersion);
    answer.set_node(link::host_name());
    answer.set_session(opened.session->id);
    answer.set_resume(opened.resumed);
    answer.set_received_through(slot.flow.counter().take_all());
    answer.set_streams(static_cast<std::uint32_t>(opened.session->lanes.size()));
    answer.set_lane(opened.lane);
    answer.set_codecs(opened.session->receiver.codecs());
    // What the proxy already holds of ours is not written again.
    if (opened.resumed) slot.flow.window().resume_from(hello.received_through());
    std::string out(link::kPreamble.begin(), link::kPreamble.end());
    out += link::encode_message(link::FrameType::hello, answer);
    co_await asio::async_write(stream, asio::buffer(out), asio::use_awaitable);
    log_joined(peer, hello, answer, opened.resumed);
}

}  // namespace imgx::cached
