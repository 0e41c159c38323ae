// The UNIX sockets CRIU connects to, one set per images directory, opened and closed at run time.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "util/names.hpp"
#include "util/peer_access.hpp"

namespace imgx::criu {

// One socket file an endpoint listens on, and which protocol it speaks.
struct SocketKind {
    std::string file_name;  // e.g. "streamer-capture.sock"
    std::string protocol;   // e.g. "stream"
};

struct Endpoint {
    std::string dir;
    std::string snapshot_id;
};

class EndpointSet {
  public:
    using OnAccept = std::function<void(boost::asio::local::stream_protocol::socket,
                                        const Endpoint&, const SocketKind&)>;

    EndpointSet(boost::asio::any_io_executor ex, std::vector<SocketKind> kinds, OnAccept on_accept);
    ~EndpointSet();

    // Creates the directory if needed (mode 0700 for new ones), removes a stale socket file,
    // binds and listens on every socket kind. Re-opening the same directory replaces its
    // snapshot id. Throws std::runtime_error naming the path and the reason.
    void open(const EndpointSpec& spec);

    // Who may connect from now on (accepted connections of others are closed at once).
    void set_peer_access(PeerAccess access) { access_ = std::move(access); }

    // True if `dir` has an open endpoint.
    bool has(const std::string& dir) const;

    // Stops listening in `dir` and removes its socket files. False if there was none.
    bool close(const std::string& dir);
    void close_all();

    struct Info {
        Endpoint endpoint;
        std::vector<std::string> socket_paths;
    };
    std::vector<Info> list() const;

  private:
    struct Listener;
    boost::asio::any_io_executor ex_;
    std::vector<SocketKind> kinds_;
    OnAccept on_accept_;
    PeerAccess access_;
    std::map<std::string, std::vector<std::shared_ptr<Listener>>> by_dir_;
};

}  // namespace imgx::criu
