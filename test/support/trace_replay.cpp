// Trace replay following shared/criu-traces/README.md, "Replaying the recordings in a test".
#include "support/trace_replay.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <set>

#include "support/content.hpp"
#include "support/criu_client.hpp"
#include "support/pipe_writer.hpp"

namespace imgtest {

namespace {

// name -> content of its file_content event.
std::map<std::string, std::string> dumped_contents(const Trace& trace) {
    std::map<std::string, std::string> out;
    for (const auto& e : trace.dump_events)
        if (e.type == "file_content") out[e.name] = trace.blob(e.blob);
    return out;
}

void replay_dump_threaded(const Trace& trace, const std::string& capture_dir,
                          const DumpReplayOptions& options) {
    const auto deadline = deadline_in(options.timeout);
    const auto contents = dumped_contents(trace);
    const bool close_first = options.style == DumpStyle::socket_closes_first;
    // For socket_closes_first: the seq of the last fd_received; the socket closes right after it.
    int last_fd_seq = 0;
    for (const auto& e : trace.dump_events)
        if (e.type == "fd_received") last_fd_seq = e.seq;

    StreamDumpSession dump(capture_dir);
    std::map<std::string, std::unique_ptr<PipeWriter>> writers;
    std::vector<std::string> deferred;  // file_content events moved after the socket's EOF
    bool socket_closed = false;
    auto finish = [&](const std::string& name) {
        auto it = writers.find(name);
        REQUIRE(it != writers.end());
        auto result = it->second->finish();
        INFO("writing " << name << " into its dump pipe: " << to_string(result.status) << " after "
                        << result.transferred << " bytes");
        CHECK(result.status == IoStatus::ok);
        writers.erase(it);
    };
    for (const auto& e : trace.dump_events) {
        if (e.type == "frame_received") {
            REQUIRE_FALSE(socket_closed);
            dump.send_raw(e.frame);  // the recorded bytes, one write
        } else if (e.type == "fd_received") {
            REQUIRE(contents.count(e.name));
            writers[e.name] =
                std::make_unique<PipeWriter>(dump.pass_pipe(), contents.at(e.name), deadline);
            if (close_first && e.seq == last_fd_seq) {
                dump.close();
                socket_closed = true;
            }
        } else if (e.type == "file_content") {
            if (close_first)
                deferred.push_back(e.name);
            else
                finish(e.name);
        } else if (e.type == "eof") {
            dump.close();
            socket_closed = true;
        }
    }
    if (close_first) {
        REQUIRE(socket_closed);
        if (options.after_socket_close) options.after_socket_close();
        for (const auto& name : deferred) finish(name);
    }
    CHECK(writers.empty());
}

void replay_dump_single_threaded(const Trace& trace, const std::string& capture_dir,
                                 Deadline deadline) {
    const auto contents = dumped_contents(trace);
    StreamDumpSession dump(capture_dir);
    std::map<std::string, imgx::UniqueFd> pipes;
    for (const auto& e : trace.dump_events) {
        if (e.type == "frame_received") {
            dump.send_raw(e.frame);
        } else if (e.type == "fd_received") {
            pipes[e.name] = dump.pass_pipe();
        } else if (e.type == "file_content") {
            auto it = pipes.find(e.name);
            REQUIRE(it != pipes.end());
            std::string open;
            for (const auto& [name, fd] : pipes) open += " " + name;
            auto result = write_and_close(std::move(it->second), contents.at(e.name), deadline);
            pipes.erase(it);
            INFO("writing "
                 << e.name << " (" << contents.at(e.name).size() << " bytes) while pipes open:"
                 << open << " -> " << to_string(result.status) << " after " << result.transferred
                 << " bytes (a timeout means the daemon does not drain pipes concurrently)");
            REQUIRE(result.status == IoStatus::ok);
        } else if (e.type == "eof") {
            dump.close();
        }
    }
}

}  // namespace

void replay_dump(const Trace& trace, const std::string& capture_dir,
                 const DumpReplayOptions& options) {
    INFO("replaying the dump of " << trace.scenario << " into " << capture_dir);
    if (options.style == DumpStyle::at_eof_single_threaded)
        replay_dump_single_threaded(trace, capture_dir, deadline_in(options.timeout));
    else
        replay_dump_threaded(trace, capture_dir, options);
}

void replay_restore(const Trace& trace, const std::string& serve_dir, Clock::duration timeout) {
    INFO("replaying the restore of " << trace.scenario << " from " << serve_dir);
    const auto deadline = deadline_in(timeout);
    const auto& events = trace.restore_events;
    StreamRestoreSession restore(serve_dir);
    std::map<std::string, imgx::UniqueFd> held;  // read ends CRIU still holds
    std::size_t served = 0, missing = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const auto& e = events[i];
        if (e.type == "eof") {
            restore.close();
            continue;
        }
        if (e.type != "frame_received") continue;
        // CRIU let go of the pipes no longer listed.
        for (auto it = held.begin(); it != held.end();) {
            const auto& open = e.open_pipes_before;
            if (std::find(open.begin(), open.end(), it->first) == open.end())
                it = held.erase(it);
            else
                ++it;
        }
        auto sent = std::find_if(events.begin() + i + 1, events.end(),
                                 [](auto& x) { return x.type == "frame_sent"; });
        REQUIRE(sent != events.end());
        const std::string name = e.decoded_name.value_or("?");
        INFO("request " << name << " (seq " << e.seq << ")");
        restore.send_raw(e.frame);
        auto reply = restore.read_reply(deadline);
        INFO("answer: " << to_string(reply.answer) << ", bytes " << hex_encode(reply.frame));
        REQUIRE(hex_encode(reply.frame) == hex_encode(sent->frame));
        if (reply.answer != Answer::exists) {
            ++missing;
            continue;
        }
        auto served_event = std::find_if(
            sent, events.end(), [&](auto& x) { return x.type == "file_served" && x.name == name; });
        REQUIRE(served_event != events.end());
        const auto expected = trace.blob(served_event->blob);
        auto all = read_to_eof(reply.pipe.get(), deadline);
        INFO("reading " << name << " from its pipe: " << to_string(all.result.status));
        REQUIRE(all.result.status == IoStatus::ok);
        INFO(describe_difference(expected, all.data));
        REQUIRE(all.data.size() == served_event->size);
        REQUIRE(all.data == expected);
        held[name] = std::move(reply.pipe);
        ++served;
    }
    std::size_t recorded_served = std::count_if(events.begin(), events.end(),
                                                [](auto& x) { return x.type == "file_served"; });
    CHECK(served == recorded_served);
    CHECK(served + missing ==
          static_cast<std::size_t>(std::count_if(
              events.begin(), events.end(), [](auto& x) { return x.type == "frame_received"; })));
}

}  // namespace imgtest
