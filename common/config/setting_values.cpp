// Parsing and naming of the setting values shared by flags and configuration keys.
#include "config/setting_values.hpp"

#include <charconv>
#include <stdexcept>

#include "util/names.hpp"

namespace imgx::config {

unsigned parse_number(std::string_view text, unsigned min, unsigned max) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max)
        throw std::invalid_argument("'" + printable(text) + "' is not a number from " +
                                    std::to_string(min) + " to " + std::to_string(max));
    return value;
}

unsigned checked_number(long long value, unsigned min, unsigned max) {
    if (value < static_cast<long long>(min) || value > static_cast<long long>(max))
        throw std::invalid_argument(std::to_string(value) + " is not a number from " +
                                    std::to_string(min) + " to " + std::to_string(max));
    return static_cast<unsigned>(value);
}

bool parse_remote_data_socket(std::string_view text) {
    if (text != "pipe" && text != "socket")
        throw std::invalid_argument("'" + printable(text) + "' is not pipe or socket");
    return text == "socket";
}

std::string_view remote_data_name(bool socket) { return socket ? "socket" : "pipe"; }

std::string_view log_level_name(spdlog::level::level_enum level) {
    const auto name = spdlog::level::to_string_view(level);
    return {name.data(), name.size()};
}

void read_endpoints(const Section& section, std::string_view key, std::vector<EndpointSpec>& out) {
    section.tables(key, [&](const Section& table) {
        table.only_keys({"dir", "snapshot"});
        if (!table.has("dir")) table.fail("dir", "missing (the images directory CRIU's -D names)");
        EndpointSpec spec;
        table.string("dir", [&](std::string_view dir) {
            if (dir.empty()) throw std::invalid_argument("empty directory");
            spec.dir = std::string(dir);
            spec.snapshot_id = snapshot_id_from_dir(dir);
        });
        const bool named = table.has("snapshot");
        table.string("snapshot", [&](std::string_view id) { spec.snapshot_id = std::string(id); });
        if (auto problem = snapshot_id_problem(spec.snapshot_id))
            table.fail(named ? "snapshot" : "dir",
                       *problem + (named ? "" : " (give snapshot = \"ID\")"));
        add_endpoint(out, std::move(spec));
    });
}

unsigned parse_id(std::string_view text) { return parse_number(text, 0, kMaxId); }

void read_ids(const Section& section, std::string_view key, std::vector<unsigned>& out) {
    section.integers(key, 0, kMaxId, [&](std::vector<std::int64_t> values) {
        out.clear();
        for (auto v : values) out.push_back(static_cast<unsigned>(v));
    });
}

std::string id_list(const std::vector<unsigned>& ids) {
    std::string out = "[";
    for (std::size_t i = 0; i < ids.size(); ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
    return out + "]";
}

std::string format_endpoints(std::string_view key, const std::vector<EndpointSpec>& specs) {
    std::string out;
    for (const auto& spec : specs) {
        out += "\n[[" + std::string(key) + "]]\n";
        out += "dir = " + quoted(spec.dir) + "\n";
        out += "snapshot = " + quoted(spec.snapshot_id) + "\n";
    }
    return out;
}

void add_endpoint(std::vector<EndpointSpec>& list, EndpointSpec spec) {
    for (const auto& known : list)
        if (known.dir == spec.dir && known.snapshot_id == spec.snapshot_id) return;
    list.push_back(std::move(spec));
}

}  // namespace imgx::config
