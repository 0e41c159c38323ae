// The link's TLS settings, the same keys and flags on both daemons (docs/configuration.md).
#pragma once

#include <string>
#include <vector>

#include "config/setting.hpp"
#include "util/cli.hpp"

namespace imgx::link {

// Which end of the link a daemon is: img-proxyd connects (client), img-cached accepts (server).
enum class TlsRole { client, server };

struct TlsSettings {
    std::string
        ca;  // tls_ca / --tls-ca: PEM file of the CA(s) the peer's certificate must chain to
    std::string cert;  // tls_cert / --tls-cert: PEM file of this daemon's certificate (chain)
    std::string key;   // tls_key / --tls-key: PEM file of its private key
    std::string crl;   // tls_crl / --tls-crl: PEM file of revoked certificates; empty: none
    std::string min_version = "1.3";  // tls_min_version: "1.3" or "1.2"
    bool plain_tcp = false;           // plain_tcp / --plain-tcp: no TLS at all, said explicitly
    // img-cached: identities allowed to push (tls_allowed_clients / --tls-allow-client).
    std::vector<std::string> allowed_clients;
    // img-proxyd: the name img-cached's certificate must carry (tls_server_name /
    // --tls-server-name); empty: the host part of `cache`.
    std::string server_name;

    // Not settings: where the files and flags set tls_ca/tls_cert/tls_key (a file, or "the
    // command line"), and, when a later layer's plain_tcp = true turned them off, where they
    // were set (layer_tls).
    std::string keys_from;
    std::string keys_ignored_from;

    [[nodiscard]] bool tls_keys_given() const {
        return !ca.empty() || !cert.empty() || !key.empty();
    }
};

// The rows of the TLS keys and flags of `role`'s daemon for its settings table: plain_tcp and
// the tls_* files (shared), then tls_server_name (client) or tls_allowed_clients (server).
config::SettingsTable<TlsSettings> tls_setting_rows(TlsRole role);
// After one layer (a file, a drop-in, then the flags) is read over `before`: records where the
// TLS keys were set, and when this layer sets plain_tcp = true over TLS keys of an earlier
// layer without setting TLS keys itself, clears tls_ca/tls_cert/tls_key/tls_crl (the later
// layer wins, as for any key) and sets keys_ignored_from. Both in one layer stay a conflict.
void layer_tls(const TlsSettings& before, TlsSettings& after, const std::string& layer);
// The line saying which TLS keys plain_tcp turned off; "" when it turned none off.
std::string ignored_tls_note(const TlsSettings& settings);

// After files and flags are merged: throws UsageError when neither TLS nor plain_tcp is
// configured, when both are, or when the TLS keys are incomplete. Files are not read here
// (load_link_tls does that at start and on reload).
void check_tls_settings(const TlsSettings& settings, TlsRole role, const std::string& config_file);

// "1.3" or "1.2"; throws std::invalid_argument otherwise.
std::string parse_tls_version(std::string_view text);

}  // namespace imgx::link
