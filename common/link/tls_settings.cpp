// Reading and checking the link's TLS keys and flags.
#include "link/tls_settings.hpp"

#include <stdexcept>

#include "util/names.hpp"

namespace imgx::link {

namespace {

std::string non_empty_path(std::string_view v) {
    if (v.empty()) throw std::invalid_argument("empty path");
    return std::string(v);
}

std::string non_empty_name(std::string_view v) {
    if (v.empty()) throw std::invalid_argument("empty name");
    return std::string(v);
}

}  // namespace

std::string parse_tls_version(std::string_view text) {
    if (text != "1.3" && text != "1.2") throw std::invalid_argument("'" + printable(text) + "' is not \"1.3\" or \"1.2\"");
    return std::string(text);
}

void add_tls_flags(ArgReader& args, TlsSettings& settings, TlsRole role) {
    args.value("--tls-ca", [&](std::string_view v) { settings.ca = non_empty_path(v); });
    args.value("--tls-cert", [&](std::string_view v) { settings.cert = non_empty_path(v); });
    args.value("--tls-key", [&](std::string_view v) { settings.key = non_empty_path(v); });
    args.value("--tls-crl", [&](std::string_view v) { settings.crl = non_empty_path(v); });
    args.value("--tls-min-version", [&](std::string_view v) { settings.min_version = parse_tls_version(v); });
    args.toggle("--plain-tcp", [&] { settings.plain_tcp = true; });
    if (role == TlsRole::server)
        args.value("--tls-allow-client", [&](std::string_view v) { settings.allowed_clients.push_back(non_empty_name(v)); });
    else
        args.value("--tls-server-name", [&](std::string_view v) { settings.server_name = non_empty_name(v); });
}

void read_tls_keys(const config::Section& document, TlsSettings& settings, TlsRole role) {
    // An empty string is "not set", as --print-config writes it.
    document.string("tls_ca", [&](std::string_view v) { settings.ca = std::string(v); });
    document.string("tls_cert", [&](std::string_view v) { settings.cert = std::string(v); });
    document.string("tls_key", [&](std::string_view v) { settings.key = std::string(v); });
    document.string("tls_crl", [&](std::string_view v) { settings.crl = std::string(v); });
    document.string("tls_min_version", [&](std::string_view v) { settings.min_version = parse_tls_version(v); });
    document.boolean("plain_tcp", [&](bool v) { settings.plain_tcp = v; });
    if (role == TlsRole::server) {
        document.strings("tls_allowed_clients", [&](std::vector<std::string> names) {
            for (const auto& name : names) non_empty_name(name);
            settings.allowed_clients = std::move(names);
        });
    } else {
        document.string("tls_server_name", [&](std::string_view v) { settings.server_name = std::string(v); });
    }
}

std::string format_tls_keys(const TlsSettings& settings, TlsRole role) {
    std::string out;
    out += "plain_tcp = " + std::string(settings.plain_tcp ? "true" : "false") + "\n";
    out += "tls_ca = " + config::quoted(settings.ca) + "\n";
    out += "tls_cert = " + config::quoted(settings.cert) + "\n";
    out += "tls_key = " + config::quoted(settings.key) + "\n";
    out += "tls_crl = " + config::quoted(settings.crl) + "\n";
    out += "tls_min_version = " + config::quoted(settings.min_version) + "\n";
    if (role == TlsRole::server) {
        out += "tls_allowed_clients = [";
        for (std::size_t i = 0; i < settings.allowed_clients.size(); ++i)
            out += (i ? ", " : "") + config::quoted(settings.allowed_clients[i]);
        out += "]\n";
    } else {
        out += "tls_server_name = " + config::quoted(settings.server_name) + "\n";
    }
    return out;
}

void check_tls_settings(const TlsSettings& settings, TlsRole role, const std::string& config_file) {
    const bool tls = settings.tls_keys_given();
    if (tls && settings.plain_tcp)
        throw UsageError("both TLS (tls_ca, tls_cert, tls_key) and plain_tcp are set (in " + config_file +
                         " or flags): choose one");
    if (settings.plain_tcp) return;
    if (!tls)
        throw UsageError("the link needs TLS or an explicit choice of plain TCP: set tls_ca, tls_cert and tls_key "
                         "(--tls-ca, --tls-cert, --tls-key), or plain_tcp = true (--plain-tcp), in " +
                         config_file);
    std::string missing;
    for (auto [key, value] : {std::pair{"tls_ca", &settings.ca}, {"tls_cert", &settings.cert}, {"tls_key", &settings.key}})
        if (value->empty()) missing += std::string(missing.empty() ? "" : ", ") + key;
    if (!missing.empty()) throw UsageError("TLS needs tls_ca, tls_cert and tls_key; missing: " + missing);
    if (role == TlsRole::server && settings.allowed_clients.empty())
        throw UsageError("TLS on img-cached needs tls_allowed_clients (--tls-allow-client NAME): the img-proxyd "
                         "identities allowed to push, in " + config_file);
}

}  // namespace imgx::link
