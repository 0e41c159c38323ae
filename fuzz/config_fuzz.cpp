// Fuzz target: a configuration file (TOML) read into the options of img-proxyd and img-cached.
// Every problem must be a one-line ConfigError; an accepted file prints (--print-config) as a
// file that reads back to the same options.
#include <optional>
#include <string>

#include "cached/cache_config.hpp"
#include "fuzz_check.hpp"
#include "proxyd/proxy_config.hpp"

using namespace imgx;

namespace {

constexpr const char* kFile = "fuzz.toml";

std::optional<toml::table> parse(std::string_view text) {
    try {
        return toml::parse(text, std::string_view(kFile));
    } catch (const toml::parse_error&) {
        return std::nullopt;
    }
}

// Applies `document` to default options with `apply`; returns false if it was refused.
template <typename Options, typename Apply>
bool apply_to(const toml::table& document, Options& options, Apply apply) {
    try {
        apply(config::Section(document, kFile), options);
        return true;
    } catch (const config::ConfigError& e) {
        FUZZ_CHECK(std::string_view(e.what()).find('\n') == std::string_view::npos);
        FUZZ_CHECK(e.file() == kFile);
        return false;
    }
}

// The printed configuration of `options` reads back to options that print the same.
template <typename Options, typename Apply, typename Format>
void check_round_trip(const Options& options, Apply apply, Format format) {
    const std::string printed = format(options);
    const auto document = parse(printed);
    FUZZ_CHECK(document.has_value());
    Options again;
    FUZZ_CHECK(apply_to(*document, again, apply));
    FUZZ_CHECK(format(again) == printed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto document = parse(imgfuzz::as_text(data, size));
    if (!document) return 0;
    proxyd::ProxyOptions proxy;
    // Without the required cache address the daemon refuses to start and prints nothing.
    if (apply_to(*document, proxy, proxyd::apply_proxy_config) && !proxy.cache.host.empty())
        check_round_trip(proxy, proxyd::apply_proxy_config, proxyd::format_proxy_config);
    cached::CacheOptions cache;
    if (apply_to(*document, cache, cached::apply_cache_config) && !cache.listen.host.empty())
        check_round_trip(cache, cached::apply_cache_config, cached::format_cache_config);
    return 0;
}
