// Trace manifest loading with nlohmann::json.
#include "support/trace_manifest.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "support/test_status.hpp"
#include "util/names.hpp"

namespace imgtest {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path.string());
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

json load_json(const fs::path& path) { return json::parse(read_file(path)); }

TraceEvent to_event(const json& e) {
    TraceEvent ev;
    ev.seq = e.at("seq").get<int>();
    ev.type = e.at("type").get<std::string>();
    if (e.contains("hex")) ev.frame = hex_decode(e["hex"].get<std::string>());
    if (e.contains("name")) ev.name = e["name"].get<std::string>();
    if (e.contains("blob")) ev.blob = e["blob"].get<std::string>();
    if (e.contains("size")) ev.size = e["size"].get<std::uint64_t>();
    if (e.contains("decoded")) {
        const auto& d = e["decoded"];
        if (d.contains("filename")) ev.decoded_name = d["filename"].get<std::string>();
        if (d.contains("exists")) ev.decoded_exists = d["exists"].get<bool>();
    }
    if (e.contains("open_pipes_before"))
        ev.open_pipes_before = e["open_pipes_before"].get<std::vector<std::string>>();
    return ev;
}

std::vector<TraceEvent> events_of(const json& connection) {
    std::vector<TraceEvent> out;
    for (const auto& e : connection.at("events")) out.push_back(to_event(e));
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
    return out;
}

}  // namespace

std::string Trace::blob(const std::string& relative) const { return read_file(dir / relative); }

std::string Trace::snapshot_id() const { return imgx::snapshot_id_from_dir(images_dir); }

Trace load_g4_trace(const fs::path& scenario_dir) {
    json m = load_json(scenario_dir / "manifest.json");
    Trace t;
    t.dir = scenario_dir;
    t.scenario = m.value("scenario", scenario_dir.filename().string());
    t.protocol = m.at("protocol").get<std::string>();
    if (t.protocol != "G4")
        throw std::runtime_error(scenario_dir.string() + " is not a G4 recording");
    t.images_dir = m.at("images_dir").get<std::string>();
    for (const auto& c : m.at("connections")) {
        const auto phase = c.at("phase").get<std::string>();
        if (phase == "dump")
            t.dump_events = events_of(c);
        else if (phase == "restore")
            t.restore_events = events_of(c);
    }
    if (t.dump_events.empty() || t.restore_events.empty())
        throw std::runtime_error(scenario_dir.string() +
                                 ": manifest lacks a dump or restore connection");
    return t;
}

fs::path traces_dir_or_skip() {
    const char* env = std::getenv("IMG_TRACES_DIR");
    if (!env || !*env) skip_test("IMG_TRACES_DIR is not set; it names shared/criu-traces");
    fs::path dir(env);
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        skip_test("CRIU trace directory " + dir.string() + " does not exist");
    return dir;
}

std::vector<fs::path> g4_scenarios_or_skip() {
    auto dir = traces_dir_or_skip();
    std::vector<fs::path> out;
    for (const auto& entry : fs::directory_iterator(dir)) {
        auto manifest = entry.path() / "manifest.json";
        if (!fs::is_regular_file(manifest)) continue;
        if (load_json(manifest).value("protocol", "") == "G4") out.push_back(entry.path());
    }
    std::sort(out.begin(), out.end());
    if (out.empty()) skip_test("no G4 recordings in " + dir.string());
    return out;
}

std::string hex_decode(std::string_view hex) {
    auto nibble = [&](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        throw std::invalid_argument("bad hex digit in '" + std::string(hex) + "'");
    };
    std::string out;
    std::string digits;
    for (char c : hex)
        if (c != ' ') digits += c;
    if (digits.size() % 2) throw std::invalid_argument("odd number of hex digits");
    for (std::size_t i = 0; i < digits.size(); i += 2)
        out += static_cast<char>(nibble(digits[i]) * 16 + nibble(digits[i + 1]));
    return out;
}

std::string hex_encode(std::string_view bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out += kDigits[c >> 4];
        out += kDigits[c & 15];
    }
    return out;
}

}  // namespace imgtest
