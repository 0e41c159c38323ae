// Building the link's TLS context from files, with errors naming the key and the file.
#include "link/link_tls.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace imgx::link {

namespace asio = boost::asio;

namespace {

// Opens `path` once to give "cannot read" errors in the words of the file system.
void check_readable(std::string_view key, const std::string& path) {
    std::ifstream in(path);
    if (!in)
        throw std::runtime_error(
            fmt::format("{} {}: cannot read: {}", key, path, std::strerror(errno)));
}

std::string openssl_reason(const boost::system::system_error& e) { return e.code().message(); }

void load_crl(SSL_CTX* ctx, const std::string& path) {
    check_readable("tls_crl", path);
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "r"), BIO_free);
    if (!bio) throw std::runtime_error(fmt::format("tls_crl {}: cannot open", path));
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    int count = 0;
    while (X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr)) {
        X509_STORE_add_crl(store, crl);
        X509_CRL_free(crl);
        ++count;
    }
    ERR_clear_error();  // the read that ended the loop
    if (count == 0)
        throw std::runtime_error(
            fmt::format("tls_crl {}: holds no PEM certificate revocation list", path));
    // The peer's certificate is checked against its issuer's CRL (the CRL file must hold it).
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
}

std::string describe_own_certificate(SSL_CTX* ctx) {
    X509* cert = SSL_CTX_get0_certificate(ctx);
    if (!cert) return "no certificate";
    return "identity " + describe_names(identities_of(presented_identities(cert)));
}

}  // namespace

PresentedIdentities presented_identities(X509* certificate) {
    PresentedIdentities out;
    if (!certificate) return out;
    auto* names = static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
    if (names) {
        for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
            const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
            if (name->type != GEN_DNS) continue;
            const ASN1_STRING* dns = name->d.dNSName;
            out.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                       static_cast<std::size_t>(ASN1_STRING_length(dns)));
        }
        GENERAL_NAMES_free(names);
    }
    X509_NAME* subject = X509_get_subject_name(certificate);
    const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (index >= 0) {
        const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
        out.common_name.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                               static_cast<std::size_t>(ASN1_STRING_length(cn)));
    }
    return out;
}

std::shared_ptr<LinkTls> load_link_tls(const TlsSettings& settings, TlsRole role,
                                       const std::string& default_server_name) {
    auto tls = std::make_shared<LinkTls>(role);
    auto& context = tls->context;
    SSL_CTX* ctx = context.native_handle();
    context.set_options(asio::ssl::context::default_workarounds |
                        asio::ssl::context::no_compression);
    SSL_CTX_set_min_proto_version(ctx,
                                  settings.min_version == "1.2" ? TLS1_2_VERSION : TLS1_3_VERSION);

    check_readable("tls_ca", settings.ca);
    try {
        context.load_verify_file(settings.ca);
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error(fmt::format("tls_ca {}: no usable PEM CA certificate ({})",
                                             settings.ca, openssl_reason(e)));
    }
    check_readable("tls_cert", settings.cert);
    try {
        context.use_certificate_chain_file(settings.cert);
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error(fmt::format("tls_cert {}: no usable PEM certificate ({})",
                                             settings.cert, openssl_reason(e)));
    }
    check_readable("tls_key", settings.key);
    try {
        context.use_private_key_file(settings.key, asio::ssl::context::pem);
    } catch (const boost::system::system_error& e) {
        // OpenSSL checks the key against the certificate as it loads it.
        if (ERR_GET_REASON(static_cast<unsigned long>(e.code().value())) ==
            X509_R_KEY_VALUES_MISMATCH)
            throw std::runtime_error(fmt::format("tls_key {} is not the key of tls_cert {}",
                                                 settings.key, settings.cert));
        throw std::runtime_error(fmt::format("tls_key {}: no usable PEM private key ({})",
                                             settings.key, openssl_reason(e)));
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        throw std::runtime_error(
            fmt::format("tls_key {} is not the key of tls_cert {}", settings.key, settings.cert));
    }
    if (!settings.crl.empty()) load_crl(ctx, settings.crl);

    if (role == TlsRole::server) {
        context.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
        tls->allowed_clients = settings.allowed_clients;
    } else {
        context.set_verify_mode(asio::ssl::verify_peer);
        tls->server_name =
            settings.server_name.empty() ? default_server_name : settings.server_name;
    }
    tls->summary =
        fmt::format("TLS {}+ with {}, CA {}{}", settings.min_version, describe_own_certificate(ctx),
                    settings.ca, settings.crl.empty() ? "" : ", CRL " + settings.crl);
    return tls;
}

void check_tls_files(const TlsSettings& settings, TlsRole role) {
    if (plain_link(settings)) return;
    try {
        load_link_tls(settings, role);
    } catch (const std::runtime_error& e) {
        throw UsageError(e.what());
    }
}

bool plain_link(const TlsSettings& settings) {
    return settings.plain_tcp || !settings.tls_keys_given();
}

std::shared_ptr<LinkTls> start_link_tls(const TlsSettings& settings, TlsRole role,
                                        const std::string& default_server_name,
                                        const std::string& peer) {
    if (plain_link(settings)) {
        if (const auto note = ignored_tls_note(settings); !note.empty()) spdlog::warn("{}", note);
        spdlog::warn("plain_tcp: the link to {} is neither encrypted nor authenticated", peer);
        return nullptr;
    }
    auto tls = load_link_tls(settings, role, default_server_name);
    spdlog::info("link to {}: {}", peer, tls->summary);
    return tls;
}

bool reload_link_tls(const TlsSettings& running, const TlsSettings& next, TlsRole role,
                     const std::string& default_server_name, std::shared_ptr<LinkTls>& out) {
    out.reset();
    if (plain_link(running) || plain_link(next)) return true;
    try {
        out = load_link_tls(next, role, default_server_name);
    } catch (const std::exception& e) {
        spdlog::error(
            "reload refused, the configuration and the link's certificates stay as they were: {}",
            e.what());
        return false;
    }
    spdlog::info("reload: new link connections use {}", out->summary);
    return true;
}

std::string explain_link_error(const boost::system::error_code& ec) {
    if (ec == asio::ssl::error::stream_truncated) return "the peer cut the TLS connection";
    if (ec.category() != asio::error::get_ssl_category()) return ec.message();
    const std::string detail = " (" + ec.message() + ")";
    switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
        case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
            return "the peer refused this daemon's certificate: issued by a CA it does not trust "
                   "(tls_ca)" +
                   detail;
        case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
            return "the peer refused this daemon's certificate as bad (img-cached does when its "
                   "identity is not in "
                   "tls_allowed_clients, img-proxyd when it does not carry the name "
                   "tls_server_name)" +
                   detail;
        case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
            return "the peer refused this daemon's certificate: revoked (tls_crl)" + detail;
        case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
            return "the peer refused this daemon's certificate: expired" + detail;
        case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
            return "the peer requires a certificate and this daemon sent none" + detail;
        case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
            return "the peer sent no certificate (img-cached requires one)" + detail;
        case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
        case SSL_R_UNSUPPORTED_PROTOCOL:
            return "no TLS version both sides accept (tls_min_version)" + detail;
        case SSL_R_WRONG_VERSION_NUMBER:
        case SSL_R_PACKET_LENGTH_TOO_LONG:
        case SSL_R_HTTP_REQUEST:
            return "the peer does not speak TLS (plain TCP on one side, TLS on the other?)" +
                   detail;
        default:
            return "TLS error: " + ec.message();
    }
}

}  // namespace imgx::link
