// img-ctl output formatting.
#include "ctl_output.hpp"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

#include <nlohmann/json.hpp>

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
        if (s.link_sent_bytes() > 0 && s.link_sent_bytes() != s.link_chunk_bytes())
            out += fmt::format("  compressed: {} sent as {} on the link (ratio {:.2f})\n",
                               human_bytes(static_cast<double>(s.link_chunk_bytes())),
                               human_bytes(static_cast<double>(s.link_sent_bytes())),
                               static_cast<double>(s.link_chunk_bytes()) /
                                   static_cast<double>(s.link_sent_bytes()));
        if (!s.error().empty()) out += fmt::format("  error: {}\n", s.error());
    }
    return out;
}

namespace {

using google::protobuf::FieldDescriptor;

// proto3's JSON mapping writes 64-bit integers as strings; counts are numbers to a script.
void numbers_for_64_bit(const google::protobuf::Descriptor& type, nlohmann::json& object) {
    for (int i = 0; i < type.field_count(); ++i) {
        const FieldDescriptor& field = *type.field(i);
        auto found = object.find(field.name());
        if (found == object.end() || field.is_map()) continue;
        auto convert = [&](nlohmann::json& value) {
            if (field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && value.is_object())
                numbers_for_64_bit(*field.message_type(), value);
            if (!value.is_string()) return;
            if (field.cpp_type() == FieldDescriptor::CPPTYPE_UINT64)
                value = std::stoull(value.get<std::string>());
            else if (field.cpp_type() == FieldDescriptor::CPPTYPE_INT64)
                value = std::stoll(value.get<std::string>());
        };
        if (field.is_repeated() && found->is_array())
            for (auto& element : *found) convert(element);
        else
            convert(*found);
    }
}

}  // namespace

std::string to_json(const control::Response& response) {
    std::string out;
    google::protobuf::util::JsonPrintOptions options;
    options.always_print_primitive_fields = true;
    options.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(response, &out, options);
    auto parsed = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) return out;
    numbers_for_64_bit(*control::Response::descriptor(), parsed);
    return parsed.dump();
}

}  // namespace imgx::ctl
