// SO_PEERCRED checks of accepted UNIX socket connections.
#include "util/peer_access.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

namespace imgx {

std::optional<PeerCredentials> peer_credentials(int socket_fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(socket_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred)
        return std::nullopt;
    return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

PeerAccess::PeerAccess(std::vector<uid_t> uids, std::vector<gid_t> gids)
    : uids_(std::move(uids)), gids_(std::move(gids)) {
    for (uid_t always : {uid_t{0}, ::geteuid()})
        if (std::find(uids_.begin(), uids_.end(), always) == uids_.end()) uids_.push_back(always);
    std::sort(uids_.begin(), uids_.end());
    std::sort(gids_.begin(), gids_.end());
    gids_.erase(std::unique(gids_.begin(), gids_.end()), gids_.end());
}

bool PeerAccess::allows(const PeerCredentials& peer) const {
    return std::binary_search(uids_.begin(), uids_.end(), peer.uid) ||
           std::binary_search(gids_.begin(), gids_.end(), peer.gid);
}

std::string PeerAccess::describe() const {
    std::string out = fmt::format("uid {}", fmt::join(uids_, ", "));
    if (!gids_.empty()) out += fmt::format("; gid {}", fmt::join(gids_, ", "));
    return out;
}

bool PeerAccess::admit(int socket_fd, const std::string& what) const {
    const auto peer = peer_credentials(socket_fd);
    if (!peer) {
        spdlog::warn("refused a connection to {}: the kernel gave no peer credentials", what);
        return false;
    }
    if (allows(*peer)) return true;
    spdlog::warn("refused a connection to {} from pid {} uid {} gid {}: allowed are {}", what,
                 peer->pid, peer->uid, peer->gid, describe());
    return false;
}

}  // namespace imgx
