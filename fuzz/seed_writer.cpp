// Writes the seed corpora of the fuzz targets: frames split from the recorded CRIU runs
// (IMG_TRACES_DIR layout: <scenario>/manifest.json + files/), link sessions, control requests,
// names, configuration files and metrics HTTP requests built with the daemons' own encoders.
// Usage: fuzz-seed-writer TRACES_DIR SOURCE_DIR OUT_DIR   (writes OUT_DIR/<target>/<seed>)
#include <xxhash.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "control.pb.h"
#include "criu/remote_codec.hpp"
#include "criu/stream_codec.hpp"
#include "link.pb.h"
#include "link/link_codec.hpp"
#include "session_receiver_input.hpp"

namespace fs = std::filesystem;
using namespace imgx;

namespace {

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string hex_decode(const std::string& hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    return out;
}

// One target's corpus directory; identical seeds are written once.
class Corpus {
  public:
    Corpus(const fs::path& out, const std::string& target) : dir_(out / target) {
        fs::create_directories(dir_);
    }
    void add(const std::string& name, const std::string& bytes) {
        if (!seen_.insert(bytes).second) return;
        std::ofstream(dir_ / name, std::ios::binary) << bytes;
    }
    [[nodiscard]] std::size_t size() const { return seen_.size(); }

  private:
    fs::path dir_;
    std::set<std::string> seen_;
};

struct Recording {
    std::string scenario;
    std::string protocol;  // G4 or G3
    nlohmann::json manifest;
    fs::path dir;
};

std::vector<Recording> load_recordings(const fs::path& traces) {
    std::vector<Recording> out;
    if (!fs::is_directory(traces)) return out;
    for (const auto& entry : fs::directory_iterator(traces)) {
        const auto manifest = entry.path() / "manifest.json";
        if (!fs::exists(manifest)) continue;
        auto json = nlohmann::json::parse(read_file(manifest));
        out.push_back(
            {entry.path().filename().string(), json.value("protocol", ""), json, entry.path()});
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.scenario < b.scenario; });
    return out;
}

// Frames of one direction of one connection ("frame_received" or "frame_sent"), in order.
std::vector<std::string> frames_of(const nlohmann::json& connection, const std::string& type) {
    std::vector<std::string> out;
    for (const auto& event : connection["events"])
        if (event.value("type", "") == type) out.push_back(hex_decode(event.value("hex", "")));
    return out;
}

std::string joined(const std::vector<std::string>& frames) {
    std::string out;
    for (const auto& f : frames) out += f;
    return out;
}

// The CRIU frame corpora: whole connection streams and single frames of every recording.
void write_criu_seeds(const std::vector<Recording>& recordings, Corpus& stream, Corpus& remote,
                      Corpus& wire) {
    for (const auto& r : recordings) {
        Corpus& corpus = r.protocol == "G4" ? stream : remote;
        int index = 0;
        for (const auto& connection : r.manifest["connections"]) {
            const std::string base = r.scenario + "-" + std::to_string(index++);
            for (const std::string direction : {"frame_received", "frame_sent"}) {
                const auto frames = frames_of(connection, direction);
                if (frames.empty()) continue;
                const std::string all = joined(frames);
                corpus.add(base + "-" + direction, all);
                wire.add(base + "-" + direction, std::string(1, '\0') + all);
                for (std::size_t i = 0; i < frames.size(); ++i)
                    corpus.add(base + "-" + direction + "-" + std::to_string(i), frames[i]);
            }
        }
    }
    // The G1 form of the control requests (2017-2019 builds: snapshot id "null", named finishes).
    remote.add("g1-push", criu::encode_remote_request("parent", "null", criu::kOpenAppend) +
                              criu::snapshot_id_frame("/srv/migrate/job1"));
    remote.add("g1-pull", criu::encode_remote_request("parent", "null", criu::kOpenRead));
    remote.add("g1-dump-finish",
               criu::encode_remote_request("DUMP_FINISH", "null", criu::kOpenWrite));
    remote.add("g1-restore-finish",
               criu::encode_remote_request("RESTORE_FINISH", "null", criu::kOpenRead));
    remote.add("g1-write",
               criu::encode_remote_request("pages-1.img", "/srv/migrate/job1", criu::kOpenWrite));
    stream.add("handmade-request", criu::encode_stream_request("pages-1.img"));
    stream.add("handmade-replies",
               criu::stream_reply_frame(true) + criu::stream_reply_frame(false));
    wire.add("handmade-over-limit", std::string(1, '\0') + std::string("\xff\xff\x00\x00", 4));
    wire.add("handmade-partial", std::string(1, '\0') + std::string("\x05\x00\x00\x00"
                                                                    "ab",
                                                                    6));
}

// Image files (name, content) of the first G4 dump, for link sessions.
std::vector<std::pair<std::string, std::string>> recorded_files(
    const std::vector<Recording>& recordings) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& r : recordings) {
        if (r.protocol != "G4") continue;
        for (const auto& event : r.manifest["connections"][0]["events"]) {
            if (event.value("type", "") != "file_content") continue;
            std::string content = read_file(r.dir / event.value("blob", ""));
            content.resize(std::min<std::size_t>(content.size(), 256));  // seeds stay small
            out.emplace_back(event.value("name", ""), content);
            if (out.size() == 4) return out;
        }
    }
    out.emplace_back("inventory.img", "handmade image bytes");
    return out;
}

std::string hello() {
    link::Hello h;
    h.set_version(link::kVersion);
    h.set_node("seed-host");
    return std::string(link::kPreamble.begin(), link::kPreamble.end()) +
           link::encode_message(link::FrameType::hello, h);
}

std::string data_frame(std::uint64_t tag, const std::string& bytes) {
    const auto header = link::encode_data_header(tag, static_cast<std::uint32_t>(bytes.size()));
    return std::string(header.begin(), header.end()) + bytes;
}

// What img-proxyd sends for one dump, and what img-cached answers.
void write_link_seeds(const std::vector<Recording>& recordings, Corpus& corpus) {
    const auto files = recorded_files(recordings);
    std::string proxy = hello(), cache = hello();
    link::SnapshotBegin begin;
    begin.set_snapshot_tag(1);
    begin.set_snapshot_id("job1");
    begin.set_protocol("stream");
    proxy += link::encode_message(link::FrameType::snapshot_begin, begin);
    std::uint64_t tag = 1, total = 0;
    for (const auto& [name, content] : files) {
        link::FileBegin fb;
        fb.set_file_tag(++tag);
        fb.set_snapshot_tag(1);
        fb.set_name(name);
        proxy += link::encode_message(link::FrameType::file_begin, fb) + data_frame(tag, content);
        link::FileEnd fe;
        fe.set_file_tag(tag);
        fe.set_size(content.size());
        fe.set_xxh3(XXH3_64bits(content.data(), content.size()));
        proxy += link::encode_message(link::FrameType::file_end, fe);
        link::FileAck ack;
        ack.set_file_tag(tag);
        ack.set_size(content.size());
        cache += link::encode_message(link::FrameType::file_ack, ack);
        total += content.size();
    }
    link::SnapshotEnd end;
    end.set_snapshot_tag(1);
    end.set_file_count(static_cast<std::uint32_t>(files.size()));
    end.set_total_bytes(total);
    proxy += link::encode_message(link::FrameType::snapshot_end, end);
    link::SnapshotResult result;
    result.set_snapshot_tag(1);
    result.set_ok(true);
    cache += link::encode_message(link::FrameType::snapshot_result, result);
    corpus.add("proxy-session", proxy);
    corpus.add("cache-session", cache);

    link::SnapshotBegin chain;
    chain.set_snapshot_tag(2);
    chain.set_snapshot_id("/srv/migrate/job3");
    chain.set_protocol("remote");
    chain.set_chain("/srv/migrate");
    chain.add_chain_ids("/srv/migrate/pre1");
    chain.add_chain_ids("/srv/migrate/job3");
    link::SnapshotAbort abort;
    abort.set_snapshot_tag(2);
    abort.set_reason("CRIU closed the connection");
    corpus.add("proxy-remote-abort",
               hello() + link::encode_message(link::FrameType::snapshot_begin, chain) +
                   link::encode_message(link::FrameType::snapshot_abort, abort));

    // A lane above 0 of a multi-lane session: DATA_AT chunks out of order and an ACK.
    link::Hello lane;
    lane.set_version(link::kVersion);
    lane.set_session(7);
    lane.set_resume(true);
    lane.set_lane(2);
    std::string lane_frames = std::string(link::kPreamble.begin(), link::kPreamble.end()) +
                              link::encode_message(link::FrameType::hello, lane);
    for (const std::uint64_t offset : {4u, 0u}) {
        const auto header = link::encode_data_at_header(3, offset, 4);
        lane_frames += std::string(header.begin(), header.end()) + "page";
    }
    link::Ack ack;
    ack.set_received_through(2);
    corpus.add("proxy-lane", lane_frames + link::encode_message(link::FrameType::ack, ack));
}

// The recorded dump as session_receiver events: whole, over two lanes with chunks out of order,
// and cut (abort, drop, lost connection) in the middle of its second file.
void write_session_receiver_seeds(const std::vector<Recording>& recordings, Corpus& corpus) {
    using namespace imgfuzz::receiver_input;
    const auto files = recorded_files(recordings);
    enum class Cut { none, abort, drop, lost };
    for (const unsigned lanes : {1u, 2u})
        for (const Cut cut : {Cut::none, Cut::abort, Cut::drop, Cut::lost}) {
            Writer w(lanes);
            w.op(Op::snapshot_begin).number(1, 1).number(0, 1).number(0, 1);
            std::uint64_t tag = 1, total = 0;
            for (const auto& [name, content] : files) {
                w.op(Op::file_begin).number(++tag, 1).number(1, 1).payload(name, 1);
                const std::size_t half = content.size() / 2;
                if (lanes == 1) {
                    w.op(Op::data).number(tag, 1).payload(content.substr(0, half), 2);
                    w.op(Op::data).number(tag, 1).payload(content.substr(half), 2);
                } else {  // the second half first: held until the first arrives
                    w.op(Op::data_at).number(tag, 1).number(half, 4).number(1, 1);
                    w.payload(content.substr(half), 2);
                    w.op(Op::data_at).number(tag, 1).number(0, 4).number(0, 1);
                    w.payload(content.substr(0, half), 2);
                }
                if (tag == 3 && cut == Cut::abort) w.op(Op::snapshot_abort).number(1, 1);
                if (tag == 3 && cut == Cut::drop) w.op(Op::drop).number(0, 1);
                if (tag == 3 && cut == Cut::lost) w.op(Op::connection_lost);
                w.op(Op::file_end).number(tag, 1).number(content.size(), 4);
                w.number(XXH3_64bits(content.data(), content.size()), 8);
                total += content.size();
            }
            w.op(Op::snapshot_end).number(1, 1).number(files.size(), 2).number(total, 4);
            corpus.add("session-" + std::to_string(lanes) + "-lanes-cut-" +
                           std::to_string(static_cast<int>(cut)),
                       w.bytes());
        }
}

void write_control_seeds(const std::vector<Recording>& recordings, Corpus& control, Corpus& names) {
    std::vector<std::string> dirs{"/srv/migrate/job1"};
    for (const auto& r : recordings) dirs.push_back(r.manifest.value("images_dir", ""));
    int index = 0;
    auto add = [&](const control::Request& request) {
        control.add("request-" + std::to_string(index++), request.SerializeAsString());
    };
    for (const auto& dir : dirs) {
        control::Request open;
        open.mutable_open()->set_dir(dir);
        add(open);
        open.mutable_open()->set_snapshot_id("job1");
        open.mutable_open()->set_keep_existing(true);
        add(open);
        control::Request close;
        close.set_close(dir);
        add(close);
        names.add("dir-" + std::to_string(index), dir);
        names.add("spec-" + std::to_string(index), dir + "=job1");
    }
    control::Request other;
    other.set_status(true);
    add(other);
    other.set_wait("job1");
    add(other);
    other.set_drop("job1");
    add(other);
    for (const auto& [name, content] : recorded_files(recordings)) names.add("image-" + name, name);
    for (const std::string text : {"..", "a/b", "pages-1.img", "/", "dir=", "=id", "job\x01"})
        names.add("handmade-" + std::to_string(index++), text);
}

void write_config_seeds(const fs::path& source_root, Corpus& corpus) {
    // The example files shipped in packaging/, then handmade files with every key.
    for (const auto& name : {"img-proxyd.toml", "img-cached.toml"}) {
        const auto path = source_root / "packaging" / name;
        if (fs::exists(path)) corpus.add(std::string("example-") + name, read_file(path));
    }
    corpus.add(
        "proxy-all-keys",
        "cache = \"[::1]:7411\"\ncontrol = \"/run/p.sock\"\nlog_level = \"debug\"\nbuffers = 16\n"
        "link_wait_seconds = 30\nremote_data = \"socket\"\nchain_memory_mib = 64\n"
        "[[capture]]\ndir = \"/srv/migrate/job1\"\n[[capture]]\ndir = \"/srv/x\"\nsnapshot = "
        "\"job2\"\n");
    corpus.add("cache-all-keys",
               "listen = \"0.0.0.0:7411\"\ncontrol = \"/run/c.sock\"\nlog_level = \"warning\"\n"
               "remote_data = \"pipe\"\nremote_wait_seconds = 10\n[[serve]]\ndir = "
               "\"/srv/migrate/job1\"\n");
    corpus.add("bad-key", "cahce = \"host:1\"\n");
}

// Requests to the metrics endpoint. The first byte is how many bytes each read takes, minus one.
void write_metrics_http_seeds(Corpus& corpus) {
    const std::string scrape =
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nUser-Agent: Prometheus/2.42\r\n"
        "Accept: text/plain;version=0.0.4\r\n\r\n";
    corpus.add("scrape-whole", std::string(1, '\xff') + scrape);
    corpus.add("scrape-bytewise", std::string(1, '\0') + scrape);
    corpus.add("query-lf", std::string(1, '\x07') + "GET /metrics?name=x HTTP/1.0\n\n");
    corpus.add("other-path", std::string(1, '\x10') + "GET / HTTP/1.1\r\n\r\n");
    corpus.add("post",
               std::string(1, '\x10') + "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    corpus.add("not-http", std::string(1, '\x10') + "GET /metrics SPDY/3\r\n\r\n");
    corpus.add("no-end",
               std::string(1, '\x40') + "GET /metrics HTTP/1.1\r\nX: " + std::string(300, 'h'));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "usage: fuzz-seed-writer TRACES_DIR SOURCE_DIR OUT_DIR\n";
        return 2;
    }
    try {
        const fs::path out = argv[3];
        const auto recordings = load_recordings(argv[1]);
        if (recordings.empty())
            std::cerr << "no recordings in " << argv[1] << ": handmade seeds only\n";
        Corpus stream(out, "stream_codec"), remote(out, "remote_codec"), wire(out, "wire_frame"),
            link(out, "link_codec"), control(out, "control_request"), names(out, "names"),
            config(out, "config"), metrics_http(out, "metrics_http"),
            receiver(out, "session_receiver");
        write_criu_seeds(recordings, stream, remote, wire);
        write_link_seeds(recordings, link);
        write_control_seeds(recordings, control, names);
        write_config_seeds(argv[2], config);
        write_metrics_http_seeds(metrics_http);
        write_session_receiver_seeds(recordings, receiver);
        std::cout << "seeds from " << recordings.size() << " recordings: stream_codec "
                  << stream.size() << ", remote_codec " << remote.size() << ", wire_frame "
                  << wire.size() << ", link_codec " << link.size() << ", control_request "
                  << control.size() << ", names " << names.size() << ", config " << config.size()
                  << ", metrics_http " << metrics_http.size() << ", session_receiver "
                  << receiver.size() << "\n";
    } catch (const std::exception& e) {
        std::cerr << "fuzz-seed-writer: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
