// Fuzz target: image names, snapshot ids and endpoint specs (DIR[=SNAPSHOT]) as peers, img-ctl
// and the command line give them.
#include <stdexcept>

#include "fuzz_check.hpp"
#include "util/names.hpp"

using namespace imgx;

namespace {

bool has_control_char(std::string_view s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return true;
    return false;
}

void check_image_name(std::string_view name) {
    if (image_name_problem(name)) return;
    // Accepted names are used as file names and store keys: never a path, never special.
    FUZZ_CHECK(!name.empty() && name.size() <= kMaxImageNameBytes);
    FUZZ_CHECK(name.find('/') == std::string_view::npos);
    FUZZ_CHECK(name != "." && name != "..");
    FUZZ_CHECK(!has_control_char(name));
}

void check_snapshot_id(std::string_view id) {
    if (snapshot_id_problem(id)) return;
    FUZZ_CHECK(!id.empty() && id.size() <= kMaxSnapshotIdBytes);
    FUZZ_CHECK(!has_control_char(id));
}

void check_endpoint_spec(std::string_view text) {
    EndpointSpec spec;
    try {
        spec = parse_endpoint_spec(text);
    } catch (const std::invalid_argument& e) {
        FUZZ_CHECK(std::string_view(e.what()).find('\n') == std::string_view::npos);
        return;
    }
    FUZZ_CHECK(!spec.dir.empty());
    FUZZ_CHECK(spec.dir.find('=') == std::string::npos);
    FUZZ_CHECK(!snapshot_id_problem(spec.snapshot_id));
    const auto eq = text.find('=');
    if (eq != std::string_view::npos)
        FUZZ_CHECK(spec.snapshot_id == text.substr(eq + 1));
    else
        FUZZ_CHECK(spec.snapshot_id == snapshot_id_from_dir(spec.dir));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = imgfuzz::as_text(data, size);
    check_image_name(text);
    check_snapshot_id(text);
    check_endpoint_spec(text);
    const std::string from_dir = snapshot_id_from_dir(text);
    FUZZ_CHECK(from_dir.find('/') == std::string::npos);
    FUZZ_CHECK(from_dir != "." && from_dir != "..");
    // Error messages quote peer text through printable(): one line, no control characters.
    FUZZ_CHECK(!has_control_char(printable(text)));
    return 0;
}
