// Socket paths and readiness of the img-remote endpoints of a DaemonPair.
#pragma once

#include <stdexcept>
#include <string>

#include "criu/remote_codec.hpp"
#include "remote/remote_client.hpp"
#include "support/daemon_pair.hpp"
#include "support/pipe_writer.hpp"

namespace imgtest::remote {

inline std::string proxy_socket(const DaemonPair& pair, const std::string& dir_id) {
    return pair.capture_dir(dir_id) + "/" + std::string(imgx::criu::kRemoteProxySocket);
}

inline std::string cache_socket(const DaemonPair& pair, const std::string& dir_id) {
    return pair.serve_dir(dir_id) + "/" + std::string(imgx::criu::kRemoteCacheSocket);
}

// The harness waits for the stream sockets; the img-remote ones are bound beside them.
inline void await_remote_sockets(const DaemonPair& pair, const std::vector<std::string>& dir_ids,
                                 bool proxy = true) {
    const auto deadline = deadline_in(seconds(10));
    for (const auto& id : dir_ids) {
        if (!wait_until_listening(cache_socket(pair, id), deadline))
            throw std::runtime_error("img-cached does not listen on " + cache_socket(pair, id));
        if (proxy && !wait_until_listening(proxy_socket(pair, id), deadline))
            throw std::runtime_error("img-proxyd does not listen on " + proxy_socket(pair, id));
    }
}

// One whole image write as CRIU does it: header, pipe (G3) or socket data (G2/G1), EOF.
inline IoResult write_image(const RemoteClient& client, std::string_view name,
                            std::string_view snapshot_id, std::string_view content,
                            Deadline deadline) {
    return write_and_close(client.open_write(name, snapshot_id), content, deadline);
}

}  // namespace imgtest::remote
