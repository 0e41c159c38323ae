// img-cached's link sessions by id. A session outlives its connection for the resume budget
// (link_resume_seconds), so an img-proxyd that reconnects continues where it was cut off.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "link.pb.h"
#include "link/link_flow.hpp"
#include "session_receiver.hpp"
#include "store/image_store.hpp"

namespace imgx::cached {

// One connection slot of a session (docs/link-protocol.md, "Lanes"): lane 0 carries every
// message frame; further lanes carry DATA_AT frames. Each has its own numbering and ACKs.
struct CacheLane {
    explicit CacheLane(const boost::asio::any_io_executor& ex) : flow(ex) {}

    link::LinkFlow<std::string> flow;  // lane 0: FILE_ACK and SNAPSHOT_RESULT frames to the proxy
    std::uint64_t connection = 0;      // the connection that owns the lane (counts up)
    bool attached = false;
    std::function<void()>
        close_connection;  // closes the owning connection (a newer one takes over)
};

struct CacheSession {
    CacheSession(const boost::asio::any_io_executor& ex, store::ImageStore& store, std::uint64_t id,
                 std::uint32_t lanes);

    std::uint64_t id;
    std::vector<std::unique_ptr<CacheLane>> lanes;  // at least one
    SessionReceiver receiver;

    [[nodiscard]] CacheLane& lane(std::uint32_t n) { return *lanes.at(n); }

    // The session ends with `why`: the connections still attached are closed first (their loops
    // see they no longer own their lanes, and nothing reads into or writes from the state dropped
    // next), then every unfinished snapshot fails and the lanes' frames are dropped.
    void end(const std::string& why);
};

// A connection named a lane img-cached cannot give it (no such session, or a lane it did not
// accept): it is closed, nothing else changes.
struct LaneRefused : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class LinkSessions {
  public:
    LinkSessions(const boost::asio::any_io_executor& ex, store::ImageStore& store,
                 std::chrono::seconds resume);
    LinkSessions(const LinkSessions&) = delete;
    LinkSessions& operator=(const LinkSessions&) = delete;

    // How long a session waits for its proxy to reconnect (0: it fails with its connection).
    void set_resume(std::chrono::seconds resume) { resume_ = resume; }

    struct Opened {
        std::shared_ptr<CacheSession> session;
        std::uint32_t lane = 0;
        bool resumed = false;  // an existing session continues; otherwise a new one began
    };
    // A connection from `peer` said `hello`: the session (and lane) it continues, or a new
    // session. A connection still attached to that lane is closed. Logs what it decided. Throws
    // LaneRefused for a lane above 0 of a session it does not hold or a lane it did not accept.
    Opened open(const link::Hello& hello, const std::string& peer);

    // The connection numbered `connection` of lane `lane` of `session` ended with `why`. Unless
    // a newer connection owns the lane, the session waits for a resume until the budget runs
    // out, then fails everything unfinished (at once with a budget of 0, or when not `resumable`).
    // `peer`: that connection's address, for the log line.
    void connection_ended(const std::shared_ptr<CacheSession>& session, std::uint32_t lane,
                          std::uint64_t connection, const std::string& peer, const std::string& why,
                          bool resumable);

    [[nodiscard]] std::size_t size() const noexcept { return sessions_.size(); }

  private:
    Opened open_lane(const link::Hello& hello, const std::string& peer);
    // Lane `n` of `session` gets a new connection (one still attached is closed).
    void attach(CacheSession& session, std::uint32_t n, const std::string& peer);
    void end(std::uint64_t id, const std::string& why);

    boost::asio::any_io_executor ex_;
    store::ImageStore& store_;
    std::chrono::seconds resume_;
    std::map<std::uint64_t, std::shared_ptr<CacheSession>> sessions_;
};

}  // namespace imgx::cached
