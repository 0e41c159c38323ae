// Replays the recorded img-remote dump and restore in recorded event order.
#include "remote/g3_replay.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

#include "support/content.hpp"
#include "support/pipe_writer.hpp"
#include "support/test_status.hpp"
#include "support/trace_manifest.hpp"

namespace imgtest::remote {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// The first frame of a connection as `generation` sends it. The recording is G3; G2 frames are
// the same, G1 differs only in the control frames.
std::string header_for(const G3Connection& c, const std::string& recorded, Generation generation) {
    if (c.kind == "push_snapshot_id") return push_header_frame(generation);
    if (c.kind == "pull_snapshot_ids") return pull_frame(generation);
    if (c.kind == "finish_dump") return dump_finish_frame(generation);
    if (c.kind == "finish_restore") return restore_finish_frame(generation);
    return recorded;
}

// Every event of one phase in recorded order, with the connection it belongs to.
std::vector<std::pair<const G3Connection*, const G3Event*>> phase_events(const G3Trace& trace,
                                                                         const std::string& phase) {
    std::vector<std::pair<const G3Connection*, const G3Event*>> out;
    for (const auto& c : trace.connections)
        if (c.phase == phase)
            for (const auto& e : c.events) out.emplace_back(&c, &e);
    std::sort(out.begin(), out.end(),
              [](auto& a, auto& b) { return a.second->seq < b.second->seq; });
    return out;
}

std::string where(const G3Connection& c) {
    return "connection " + std::to_string(c.index) + " (" + c.kind +
           (c.name.empty() ? "" : " " + c.name) + ")";
}

// The recorded frames a pull connection received, concatenated.
std::string recorded_pull_answer(const G3Connection& c) {
    std::string out;
    for (const auto& e : c.events)
        if (e.type == "frame_sent") out += e.frame;
    return out;
}

std::string check_pull(const G3Connection& c, int socket_fd, Deadline deadline) {
    auto pulled = RemoteClient::read_pull(socket_fd, deadline);
    std::string got = pulled.reply.frame;
    for (const auto& f : pulled.id_frames) got += f;
    const auto want = recorded_pull_answer(c);
    if (pulled.reply.status != ReplyStatus::reply)
        return where(c) + ": pull got " + pulled.reply.describe() + " instead of " +
               hex_encode(want);
    if (got != want)
        return where(c) + ": pull answered " + hex_encode(got) + ", recorded " + hex_encode(want);
    if (!pulled.problem.empty()) return where(c) + ": " + pulled.problem;
    if (!pulled.ended_by_eof) return where(c) + ": the daemon did not close after the id list";
    return "";
}

}  // namespace

std::string G3Trace::blob(const std::string& relative) const { return read_file(dir / relative); }

G3Trace load_g3_trace_or_skip(const std::string& scenario) {
    const auto root = traces_dir_or_skip();
    const auto dir = root / scenario;
    if (!fs::is_regular_file(dir / "manifest.json"))
        skip_test("recording " + dir.string() + " is missing");
    const json m = json::parse(read_file(dir / "manifest.json"));
    if (m.value("protocol", "") != "G3")
        throw std::runtime_error(dir.string() + " is not an img-remote recording");
    G3Trace trace;
    trace.dir = dir;
    trace.images_dir = m.at("images_dir").get<std::string>();
    for (const auto& jc : m.at("connections")) {
        G3Connection c;
        c.index = jc.at("index").get<int>();
        c.phase = jc.at("phase").get<std::string>();
        c.kind = jc.at("kind").get<std::string>();
        c.name = jc.value("name", "");
        c.snapshot_id = jc.value("snapshot_id", "");
        c.open_mode = jc.value("open_mode", 0u);
        if (jc.contains("open_pipes_before"))
            c.open_pipes_before = jc.at("open_pipes_before").get<std::vector<std::string>>();
        for (const auto& je : jc.at("events")) {
            G3Event e;
            e.seq = je.at("seq").get<int>();
            e.type = je.at("type").get<std::string>();
            if (je.contains("hex")) e.frame = hex_decode(je.at("hex").get<std::string>());
            e.blob = je.value("blob", "");
            e.size = je.value("size", std::uint64_t{0});
            c.events.push_back(std::move(e));
        }
        trace.connections.push_back(std::move(c));
    }
    std::sort(trace.connections.begin(), trace.connections.end(),
              [](const auto& a, const auto& b) { return a.index < b.index; });
    return trace;
}

std::string replay_dump(const G3Trace& trace, const std::string& proxy_socket,
                        Generation generation, Deadline deadline) {
    const RemoteClient client(proxy_socket, generation);
    struct Live {
        imgx::UniqueFd socket;
        std::unique_ptr<PipeWriter> writer;
        int frames_received = 0;
        bool pull_checked = false;
    };
    std::map<int, Live> live;
    for (auto [c, e] : phase_events(trace, "dump")) {
        auto& l = live[c->index];
        if (e->type == "connected") {
            l.socket = client.connect();
        } else if (e->type == "frame_received") {
            std::string frame = e->frame;
            if (l.frames_received++ == 0) {
                frame = header_for(*c, e->frame, generation);
                if (generation == Generation::g3 && frame != e->frame)
                    return where(*c) + ": the client's frame " + hex_encode(frame) +
                           " differs from the recorded " + hex_encode(e->frame);
            }
            send_once(l.socket.get(), frame);
        } else if (e->type == "fd_received") {
            std::string content;
            for (const auto& other : c->events)
                if (other.type == "file_content") content = trace.blob(other.blob);
            imgx::UniqueFd sink;
            if (generation == Generation::g3) {
                int ends[2];
                if (::pipe2(ends, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
                imgx::UniqueFd read_end(ends[0]);
                sink.reset(ends[1]);
                send_fd(l.socket.get(), read_end.get());
            } else {
                sink = std::move(l.socket);  // G2/G1: the image follows on the socket
            }
            l.writer = std::make_unique<PipeWriter>(std::move(sink), std::move(content), deadline);
        } else if (e->type == "eof") {
            l.socket.reset();  // CRIU closes the connection (for G2/G1 writes the writer holds it)
        } else if (e->type == "frame_sent") {
            if (c->kind != "pull_snapshot_ids")
                return where(*c) + ": unexpected recorded reply on the dump side";
            if (!l.pull_checked) {
                l.pull_checked = true;
                if (auto problem = check_pull(*c, l.socket.get(), deadline); !problem.empty())
                    return problem;
            }
        } else if (e->type == "file_content") {
            if (!l.writer) return where(*c) + ": content without a writer";
            auto result = l.writer->finish();
            if (result.status != IoStatus::ok)
                return where(*c) +
                       ": writing the image failed: " + std::string(to_string(result.status)) +
                       " after " + std::to_string(result.transferred) + " of " +
                       std::to_string(e->size) + " bytes";
        }
    }
    return "";
}

std::string replay_restore(const G3Trace& trace, const std::string& cache_socket,
                           Generation generation, Deadline deadline) {
    const RemoteClient client(cache_socket, generation);
    struct Live {
        imgx::UniqueFd socket;
        imgx::UniqueFd data;
        Reply reply;
        bool pull_checked = false;
    };
    std::map<int, Live> live;
    std::map<std::string, imgx::UniqueFd> held;  // read ends CRIU still holds, by image name
    for (auto [c, e] : phase_events(trace, "restore")) {
        auto& l = live[c->index];
        if (e->type == "connected") {
            l.socket = client.connect();
        } else if (e->type == "frame_received") {
            if (c->kind == "read") {
                const std::set<std::string> keep(c->open_pipes_before.begin(),
                                                 c->open_pipes_before.end());
                std::erase_if(held, [&](const auto& entry) { return !keep.contains(entry.first); });
            }
            const auto frame = header_for(*c, e->frame, generation);
            if (generation == Generation::g3 && frame != e->frame)
                return where(*c) + ": the client's frame " + hex_encode(frame) +
                       " differs from the recorded " + hex_encode(e->frame);
            send_once(l.socket.get(), frame);
        } else if (e->type == "frame_sent") {
            if (c->kind == "pull_snapshot_ids") {
                if (!l.pull_checked) {
                    l.pull_checked = true;
                    if (auto problem = check_pull(*c, l.socket.get(), deadline); !problem.empty())
                        return problem;
                }
                continue;
            }
            l.reply = read_reply(l.socket.get(), deadline);
            if (l.reply.frame != e->frame)
                return where(*c) + ": answered " + l.reply.describe() + " (" +
                       hex_encode(l.reply.frame) + "), recorded " + hex_encode(e->frame);
            if (l.reply.error == 0 && generation != Generation::g3) l.data = std::move(l.socket);
        } else if (e->type == "fd_received") {
            if (generation != Generation::g3) continue;  // G2/G1: the data follows on the socket
            int ends[2];
            if (::pipe2(ends, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
            imgx::UniqueFd write_end(ends[1]);
            l.data.reset(ends[0]);
            send_fd(l.socket.get(), write_end.get());
        } else if (e->type == "file_served") {
            if (!l.data) return where(*c) + ": no data channel for a served file";
            auto all = read_to_eof(l.data.get(), deadline);
            const auto want = trace.blob(e->blob);
            if (all.result.status != IoStatus::ok)
                return where(*c) +
                       ": reading the image: " + std::string(to_string(all.result.status)) +
                       " after " + std::to_string(all.data.size()) + " of " +
                       std::to_string(want.size()) + " bytes";
            if (all.data != want)
                return where(*c) + ": content differs: " + describe_difference(want, all.data);
            held[c->name] = std::move(l.data);
        } else if (e->type == "eof") {
            l.socket.reset();
        } else if (e->type == "closed_by_server") {
            if (c->kind == "pull_snapshot_ids") continue;  // checked with the list
            if (!wait_peer_closed(l.socket.get(), deadline))
                return where(*c) + ": the daemon did not close the connection" +
                       (c->kind == "finish_restore" ? " without a reply" : "");
            l.socket.reset();
        }
    }
    return "";
}

}  // namespace imgtest::remote
