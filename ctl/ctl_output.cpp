// img-ctl output formatting.
#include "ctl_output.hpp"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

namespace imgx::ctl {

std::string human_bytes(double bytes) {
    static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int unit = 0;
    while (bytes >= 1024 && unit < 4) {
        bytes /= 1024;
        ++unit;
    }
    return unit == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, kUnits[unit]);
}

std::string status_table(const control::Response& r) {
    std::string out = fmt::format("{} ({})\n", r.daemon(), r.link());
    if (r.endpoints_size() > 0) {
        out += "endpoints:\n";
        for (const auto& e : r.endpoints())
            out += fmt::format("  {}  snapshot '{}'\n", e.dir(), e.snapshot_id());
    }
    if (r.snapshots_size() == 0) return out + "no snapshots\n";
    out += fmt::format("{:<24} {:<8} {:>6} {:>12} {:>12} {:<10} {:>8}\n", "SNAPSHOT", "PROTOCOL", "FILES", "BYTES",
                       "RATE", "STATE", "AGE");
    for (const auto& s : r.snapshots()) {
        out += fmt::format("{:<24} {:<8} {:>6} {:>12} {:>10}/s {:<10} {:>7.0f}s\n", s.snapshot_id(), s.protocol(),
                           s.files(), human_bytes(static_cast<double>(s.bytes())),
                           human_bytes(s.rate_bytes_per_second()), s.state(), s.age_seconds());
        if (!s.error().empty()) out += fmt::format("  error: {}\n", s.error());
    }
    return out;
}

std::string to_json(const control::Response& response) {
    std::string out;
    google::protobuf::util::JsonPrintOptions options;
    options.always_print_primitive_fields = true;
    options.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(response, &out, options);
    return out;
}

std::string progress_line(const control::Response& r, bool terminal) {
    if (r.snapshots_size() == 0) return r.daemon() + ": waiting";
    const auto& s = r.snapshots(0);
    // The proxy counts bytes read from CRIU and bytes the cache confirmed; the cache counts
    // bytes received and bytes verified. Show the first, which moves continuously.
    std::string line = fmt::format("{}: '{}' {} {} files {} at {}/s", r.daemon(), s.snapshot_id(), s.state(),
                                   s.files(), human_bytes(static_cast<double>(s.bytes())),
                                   human_bytes(s.rate_bytes_per_second()));
    if (terminal && s.bytes() > 0) {
        constexpr int kWidth = 20;
        const double done = s.bytes() ? static_cast<double>(s.bytes_acked()) / static_cast<double>(s.bytes()) : 0;
        const int filled = static_cast<int>(done * kWidth);
        line = fmt::format("[{}{}] {}", std::string(filled, '#'), std::string(kWidth - filled, '.'), line);
    }
    return line;
}

}  // namespace imgx::ctl
