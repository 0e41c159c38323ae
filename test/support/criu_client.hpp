// Blocking clients that behave on CRIU's stream protocol (G4) exactly as `criu --stream` does.
#pragma once

#include <string>
#include <string_view>

#include "support/fd_io.hpp"
#include "util/unique_fd.hpp"

namespace imgtest {

// Connects a UNIX stream socket to `path`. Send and receive time out after 10 s, so even a
// connect to a listener that never accepts cannot hang. Throws std::system_error on failure.
imgx::UniqueFd connect_unix(const std::string& path);

// The image CRIU writes last in a dump that succeeded, and what the stand-ins put in it.
inline constexpr std::string_view kFinishingImage = "inventory.img";
inline constexpr std::string_view kFinishingContent = "stand-in inventory";

// CRIU's side of `criu dump --stream -D DIR`: one connection to DIR/streamer-capture.sock.
class StreamDumpSession {
  public:
    explicit StreamDumpSession(const std::string& images_dir);

    // Announces `name` (the request frame in one write), then passes the read end of a new
    // pipe (one 0x00 byte + SCM_RIGHTS) and closes our copy of it. Returns the write end.
    imgx::UniqueFd announce(std::string_view name);
    // The second half of announce(): passes a new pipe's read end, returns the write end.
    imgx::UniqueFd pass_pipe();

    // Writes arbitrary bytes on the control socket (for malformed input tests).
    void send_raw(std::string_view bytes);

    // True once the daemon has closed this connection (waits at most until `deadline`).
    bool closed_by_daemon(Deadline deadline);

    // CRIU's EOF on the control socket: the end of its requests.
    void close();
    // The end of a dump that succeeded, as CRIU ends it: inventory.img is written last, then
    // the socket closes (a dump without it failed). Returns false if the write failed.
    bool finish(Deadline deadline);
    // The same EOF, keeping our end open so closed_by_daemon() can tell when the daemon has
    // read it and closed its side.
    void end_requests();

    [[nodiscard]] int fd() const { return socket_.get(); }

  private:
    imgx::UniqueFd socket_;
};

// What the daemon did with one restore request.
enum class Answer {
    exists,     // reply exists=true (a pipe has been passed)
    missing,    // reply exists=false
    closed,     // the daemon closed the connection instead of answering
    no_answer,  // nothing before the deadline
    malformed,  // bytes that are not a valid reply frame
};
std::string_view to_string(Answer answer);

struct RestoreReply {
    Answer answer = Answer::no_answer;
    std::string frame;    // the reply bytes exactly as received (length + body)
    imgx::UniqueFd pipe;  // read end of the file's pipe when answer == exists
};

// CRIU's side of `criu restore --stream -D DIR`: one connection to DIR/streamer-serve.sock.
class StreamRestoreSession {
  public:
    explicit StreamRestoreSession(const std::string& images_dir);

    // Writes the request frame for `name` in one write.
    void send_request(std::string_view name);
    // Writes arbitrary bytes (a recorded frame, or garbage).
    void send_raw(std::string_view bytes);

    // Reads exactly one reply frame; if it says exists, creates a pipe, passes the write end
    // and returns the read end.
    RestoreReply read_reply(Deadline deadline);

    RestoreReply request(std::string_view name, Deadline deadline) {
        send_request(name);
        return read_reply(deadline);
    }

    // Requests `name` and reads the file to EOF. Returns the answer; `content` gets the bytes.
    Answer fetch(std::string_view name, std::string& content, Deadline deadline);

    void close();
    [[nodiscard]] int fd() const { return socket_.get(); }

  private:
    imgx::UniqueFd socket_;
};

}  // namespace imgtest
