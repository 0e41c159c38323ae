// Validation of snapshot ids and image names; derivation of an id from a directory.
#include "util/names.hpp"

#include <stdexcept>

namespace imgx {

namespace {

bool has_control_char(std::string_view s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return true;
    return false;
}

}  // namespace

std::optional<std::string> image_name_problem(std::string_view name) {
    if (name.empty()) return "empty file name";
    if (name.size() > kMaxImageNameBytes)
        return "file name longer than " + std::to_string(kMaxImageNameBytes) + " bytes";
    if (name == "." || name == "..") return "file name is '.' or '..'";
    if (name.find('/') != std::string_view::npos) return "file name contains '/'";
    if (has_control_char(name)) return "file name contains a control character";
    return std::nullopt;
}

std::optional<std::string> snapshot_id_problem(std::string_view id) {
    if (id.empty()) return "empty snapshot id";
    if (id.size() > kMaxSnapshotIdBytes)
        return "snapshot id longer than " + std::to_string(kMaxSnapshotIdBytes) + " bytes";
    if (has_control_char(id)) return "snapshot id contains a control character";
    return std::nullopt;
}

std::string snapshot_id_from_dir(std::string_view dir) {
    while (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
    auto slash = dir.rfind('/');
    std::string_view last = slash == std::string_view::npos ? dir : dir.substr(slash + 1);
    if (last == "." || last == "..") return {};
    return std::string(last);
}

std::string printable(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (unsigned char c : text) {
        if (c < 0x20 || c == 0x7f) {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

EndpointSpec parse_endpoint_spec(std::string_view spec) {
    EndpointSpec out;
    auto eq = spec.find('=');
    out.dir = std::string(spec.substr(0, eq));
    if (out.dir.empty())
        throw std::invalid_argument("endpoint '" + printable(spec) + "' has no directory");
    out.snapshot_id = eq == std::string_view::npos ? snapshot_id_from_dir(out.dir)
                                                   : std::string(spec.substr(eq + 1));
    if (auto problem = snapshot_id_problem(out.snapshot_id))
        throw std::invalid_argument("endpoint '" + printable(spec) + "': " + *problem +
                                    (eq == std::string_view::npos ? " (give DIR=SNAPSHOT)" : ""));
    return out;
}

}  // namespace imgx
