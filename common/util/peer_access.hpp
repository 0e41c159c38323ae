// Who may connect to a daemon's UNIX sockets: the peer's credentials (SO_PEERCRED) checked
// against an allow-list of user and group ids.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace imgx {

struct PeerCredentials {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
};

// The credentials of a connected UNIX socket's peer; nullopt if the kernel gives none.
std::optional<PeerCredentials> peer_credentials(int socket_fd);

class PeerAccess {
  public:
    // Allowed: root, the daemon's own user, and `uids`/`gids` (a peer matches by uid or by its
    // primary gid).
    explicit PeerAccess(std::vector<uid_t> uids = {}, std::vector<gid_t> gids = {});

    [[nodiscard]] bool allows(const PeerCredentials& peer) const;
    // "uid 0, 1000; gid 27" for log lines.
    [[nodiscard]] std::string describe() const;

    // Checks a freshly accepted socket; logs a refusal naming the peer, `what` it tried to reach
    // and the allow-list. True if the peer may go on.
    bool admit(int socket_fd, const std::string& what) const;

  private:
    std::vector<uid_t> uids_;
    std::vector<gid_t> gids_;
};

}  // namespace imgx
