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
    if (text != "1.3" && text != "1.2")
        throw std::invalid_argument("'" + printable(text) + "' is not \"1.3\" or \"1.2\"");
    return std::string(text);
}

namespace {

using S = TlsSettings;

// A tls_* file: the key may be "" (not set, as --print-config writes it), the flag may not.
config::Setting<S> file_row(config::SettingText text, std::string S::*field) {
    text.detail = "(path)";
    text.flag_value = "FILE";
    text.shared = true;
    const std::string key = text.key;
    return config::field_setting<S, std::string>(
        std::move(text), field,
        [key, field](const config::Section& s, S& o) {
            s.string(key, [&](std::string_view v) { o.*field = std::string(v); });
        },
        [field](std::string_view v, S& o) { o.*field = non_empty_path(v); },
        [field](const S& o) { return config::quoted(o.*field); });
}

config::Setting<S> plain_tcp_row() {
    return config::field_setting<S, bool>(
        {.key = "plain_tcp",
         .flag = "--plain-tcp",
         .kind = config::ValueKind::boolean,
         .help = "run the link as plain TCP, neither encrypted nor authenticated",
         .doc = "run the link as plain TCP, neither encrypted nor authenticated (a warning says so "
                "at start): anyone who reaches img-cached's `listen` can then push snapshots; only "
                "for a link that is protected otherwise. Either this or the three files `tls_ca`, "
                "`tls_cert` and `tls_key` must be set: neither, or both in one file, is a "
                "configuration error. Set in a later layer (a drop-in, or the flag) than the TLS "
                "files, it turns them off (`tls_crl` too); the start and `--check-config` name "
                "the file whose keys are ignored",
         .reload = config::OnReload::restart,
         .shared = true},
        &S::plain_tcp,
        [](const config::Section& s, S& o) {
            s.boolean("plain_tcp", [&](bool v) { o.plain_tcp = v; });
        },
        [](std::string_view, S& o) { o.plain_tcp = true; },
        [](const S& o) { return std::string(o.plain_tcp ? "true" : "false"); });
}

config::Setting<S> min_version_row() {
    return config::field_setting<S, std::string>(
        {.key = "tls_min_version",
         .flag = "--tls-min-version",
         .flag_value = "VERSION",
         .help = "oldest TLS version accepted: 1.3 or 1.2",
         .doc = "oldest TLS version accepted: `\"1.3\"`, or `\"1.2\"` when the other side cannot "
                "do 1.3",
         .shared = true},
        &S::min_version,
        [](const config::Section& s, S& o) {
            s.string("tls_min_version",
                     [&](std::string_view v) { o.min_version = parse_tls_version(v); });
        },
        [](std::string_view v, S& o) { o.min_version = parse_tls_version(v); },
        [](const S& o) { return config::quoted(o.min_version); });
}

config::Setting<S> server_name_row() {
    return config::field_setting<S, std::string>(
        {.key = "tls_server_name",
         .flag = "--tls-server-name",
         .flag_value = "NAME",
         .default_text = "the host part of `cache`",
         .help = "the name img-cached's certificate must carry (default: the host part of --cache)",
         .doc = "the name (DNS name or IP address) img-cached's certificate must carry in its "
                "subjectAltNames; also sent as SNI"},
        &S::server_name,
        [](const config::Section& s, S& o) {
            s.string("tls_server_name",
                     [&](std::string_view v) { o.server_name = std::string(v); });
        },
        [](std::string_view v, S& o) { o.server_name = non_empty_name(v); },
        [](const S& o) { return config::quoted(o.server_name); });
}

config::Setting<S> allowed_clients_row() {
    return config::field_setting<S, std::vector<std::string>>(
        {.key = "tls_allowed_clients",
         .flag = "--tls-allow-client",
         .flag_value = "NAME",
         .kind = config::ValueKind::strings,
         .default_text = "required with TLS",
         .help = "an img-proxyd identity allowed to push (a certificate's DNS subjectAltName, or "
                 "its CN when it has none)",
         .doc =
             "the img-proxyd identities allowed to push, matched exactly (case-sensitive, no "
             "wildcards) against the client certificate's DNS subjectAltNames, or its subject CN "
             "when it has none",
         .repeatable = true},
        &S::allowed_clients,
        [](const config::Section& s, S& o) {
            s.strings("tls_allowed_clients", [&](std::vector<std::string> names) {
                for (const auto& name : names) non_empty_name(name);
                o.allowed_clients = std::move(names);
            });
        },
        [](std::string_view v, S& o) { o.allowed_clients.push_back(non_empty_name(v)); },
        [](const S& o) {
            std::string out = "[";
            for (std::size_t i = 0; i < o.allowed_clients.size(); ++i)
                out += (i ? ", " : "") + config::quoted(o.allowed_clients[i]);
            return out + "]";
        });
}

}  // namespace

config::SettingsTable<TlsSettings> tls_setting_rows(TlsRole role) {
    config::SettingsTable<S> rows;
    rows.push_back(plain_tcp_row());
    rows.push_back(
        file_row({.key = "tls_ca",
                  .flag = "--tls-ca",
                  .default_text = "none",
                  .help = "PEM file of the CA certificate(s) the peer's certificate must chain to",
                  .doc = "PEM file of the CA certificate(s) the other daemon's certificate must "
                         "chain to"},
                 &S::ca));
    rows.push_back(
        file_row({.key = "tls_cert",
                  .flag = "--tls-cert",
                  .default_text = "none",
                  .help = "PEM file of this daemon's certificate (and intermediates)",
                  .doc = "PEM file of this daemon's own certificate (followed by any "
                         "intermediate CA certificates); img-proxyd's DNS subjectAltNames (or "
                         "its CN when it has none) are the identity img-cached checks against "
                         "`tls_allowed_clients`, img-cached's must carry the name img-proxyd "
                         "expects (`tls_server_name`)"},
                 &S::cert));
    rows.push_back(
        file_row({.key = "tls_key",
                  .flag = "--tls-key",
                  .default_text = "none",
                  .help = "PEM file of the private key of --tls-cert",
                  .doc = "PEM file of the private key of `tls_cert` (unencrypted; keep it mode "
                         "0600)"},
                 &S::key));
    rows.push_back(
        file_row({.key = "tls_crl",
                  .flag = "--tls-crl",
                  .default_note = "none",
                  .help = "PEM file of the CA's certificate revocation list",
                  .doc = "PEM file of the CA's certificate revocation list; when set, the other "
                         "daemon's certificate must not be on it (and the file must hold the CRL "
                         "of the CA that issued it)"},
                 &S::crl));
    rows.push_back(min_version_row());
    rows.push_back(role == TlsRole::server ? allowed_clients_row() : server_name_row());
    return rows;
}

void layer_tls(const TlsSettings& before, TlsSettings& after, const std::string& layer) {
    const bool keys_set_here =
        after.ca != before.ca || after.cert != before.cert || after.key != before.key;
    if (keys_set_here && after.tls_keys_given()) after.keys_from = layer;
    if (keys_set_here || before.plain_tcp || !after.plain_tcp || !before.tls_keys_given()) return;
    after.ca.clear();
    after.cert.clear();
    after.key.clear();
    after.crl.clear();
    after.keys_ignored_from = before.keys_from;
    after.keys_from.clear();
}

std::string ignored_tls_note(const TlsSettings& settings) {
    if (settings.keys_ignored_from.empty() || !settings.plain_tcp) return {};
    return "plain_tcp = true turns off the TLS keys (tls_ca, tls_cert, tls_key, tls_crl) set in " +
           settings.keys_ignored_from + ": they are ignored";
}

void check_tls_settings(const TlsSettings& settings, TlsRole role, const std::string& config_file) {
    const bool tls = settings.tls_keys_given();
    if (tls && settings.plain_tcp)
        throw UsageError("both TLS (tls_ca, tls_cert, tls_key) and plain_tcp are set in " +
                         (settings.keys_from.empty() ? config_file : settings.keys_from) +
                         ": choose one (plain_tcp = true in a later drop-in or --plain-tcp turns "
                         "TLS off)");
    if (settings.plain_tcp) return;
    if (!tls)
        throw UsageError(
            "the link needs TLS or an explicit choice of plain TCP: set tls_ca, tls_cert and "
            "tls_key "
            "(--tls-ca, --tls-cert, --tls-key), or plain_tcp = true (--plain-tcp), in " +
            config_file);
    std::string missing;
    for (auto [key, value] : {std::pair{"tls_ca", &settings.ca},
                              {"tls_cert", &settings.cert},
                              {"tls_key", &settings.key}})
        if (value->empty()) missing += std::string(missing.empty() ? "" : ", ") + key;
    if (!missing.empty())
        throw UsageError("TLS needs tls_ca, tls_cert and tls_key; missing: " + missing);
    if (role == TlsRole::server && settings.allowed_clients.empty())
        throw UsageError(
            "TLS on img-cached needs tls_allowed_clients (--tls-allow-client NAME): the img-proxyd "
            "identities allowed to push, in " +
            config_file);
}

}  // namespace imgx::link
