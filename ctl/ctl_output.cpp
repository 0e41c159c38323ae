// img-ctl output formatting.
#include "ctl_output.hpp"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

namespace imgx::ctl {

std::string status_table(const control::Response& r) {
    std::string out = fmt::format("{} ({})\n", r.daemon(), r.link());
    if (r.endpoints_size() > 0) {
        out += "endpoints:\n";
        for (const auto& e : r.endpoints())
            out += fmt::format("  {}  snapshot '{}'\n", e.dir(), e.snapshot_id());
    }
    if (r.snapshots_size() == 0) return out + "no snapshots\n";
    out += fmt::format("{:<24} {:>4} {:<8} {:>6} {:>12} {:>12} {:<10} {:>8}\n", "SNAPSHOT", "GEN",
                       "PROTOCOL", "FILES", "BYTES", "RATE", "STATE", "AGE");
    for (const auto& s : r.snapshots()) {
        out += fmt::format(
            "{:<24} {:>4} {:<8} {:>6} {:>12} {:>10}/s {:<10} {:>8}\n", s.snapshot_id(),
            s.generation(), s.protocol(), s.files(), human_bytes(static_cast<double>(s.bytes())),
            human_bytes(s.rate_bytes_per_second()), s.state(), human_duration(s.age_seconds()));
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

}  // namespace imgx::ctl
