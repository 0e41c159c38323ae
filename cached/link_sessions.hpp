// img-cached's link sessions by id. A session outlives its connection for the resume budget
// (link_resume_seconds), so an img-proxyd that reconnects continues where it was cut off.
#pragma once

#include "link.pb.h"
#include "link/link_flow.hpp"
#include "session_receiver.hpp"
#include "store/image_store.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace imgx::cached {

struct CacheSession {
    CacheSession(const boost::asio::any_io_executor& ex, store::ImageStore& store, std::uint64_t id);

    std::uint64_t id;
    link::LinkFlow<std::string> flow;  // FILE_ACK and SNAPSHOT_RESULT frames to the proxy
    SessionReceiver receiver;
    std::uint64_t connection = 0;       // the connection that owns the session (counts up)
    bool attached = false;
    std::function<void()> close_connection;  // closes the owning connection (a newer one takes over)
};

class LinkSessions {
public:
    LinkSessions(const boost::asio::any_io_executor& ex, store::ImageStore& store, std::chrono::seconds resume);
    LinkSessions(const LinkSessions&) = delete;
    LinkSessions& operator=(const LinkSessions&) = delete;

    // How long a session waits for its proxy to reconnect (0: it fails with its connection).
    void set_resume(std::chrono::seconds resume) { resume_ = resume; }

    struct Opened {
        std::shared_ptr<CacheSession> session;
        bool resumed = false;  // an existing session continues; otherwise a new one began
    };
    // A connection from `peer` said `hello`: the session it continues, or a new one. A connection
    // still attached to that session is closed. Logs what it decided.
    Opened open(const link::Hello& hello, const std::string& peer);

    // The connection numbered `connection` of `session` ended with `why`. Unless a newer
    // connection owns the session, it waits for a resume until the budget runs out, then fails
    // everything unfinished (at once with a budget of 0, or when not `resumable`).
    void connection_ended(const std::shared_ptr<CacheSession>& session, std::uint64_t connection,
                          const std::string& why, bool resumable);

    [[nodiscard]] std::size_t size() const noexcept { return sessions_.size(); }

private:
    void end(std::uint64_t id, const std::string& why);

    boost::asio::any_io_executor ex_;
    store::ImageStore& store_;
    std::chrono::seconds resume_;
    std::map<std::uint64_t, std::shared_ptr<CacheSession>> sessions_;
};

}  // namespace imgx::cached
