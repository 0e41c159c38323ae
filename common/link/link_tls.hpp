// TLS for the link: an ssl::context built from TlsSettings, and TLS failures told in words.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "link/peer_identity.hpp"
#include "link/tls_settings.hpp"

struct x509_st;

namespace imgx::link {

// A TLS handshake failed or the peer was refused; what() names the peer and the reason.
struct LinkTlsError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// What one daemon's link connections use: the context (CA, own certificate and key, CRL,
// minimum version) and what each handshake checks. Immutable once built; a reload builds a
// new one, and connections keep the one they started with.
struct LinkTls {
    explicit LinkTls(TlsRole r) : role(r) {}
    boost::asio::ssl::context context{boost::asio::ssl::context::tls};
    TlsRole role;
    std::vector<std::string> allowed_clients;  // server: identities allowed to push
    std::string server_name;                   // client: the name img-cached's certificate carries
    std::string summary;                       // for logs: own identity, CA file, minimum version
};

// Reads the files of `settings` into a new LinkTls. `default_server_name` is used on the client
// when tls_server_name is empty. Throws std::runtime_error naming the key, the file and what
// is wrong with it (missing, unreadable, not PEM, key not matching the certificate...).
std::shared_ptr<LinkTls> load_link_tls(const TlsSettings& settings, TlsRole role,
                                       const std::string& default_server_name = {});

// --check-config: throws UsageError, one line naming the key and the file, when a TLS file of
// `settings` cannot be read or used (as load_link_tls would at start); nothing for plain TCP.
void check_tls_files(const TlsSettings& settings, TlsRole role);

// True when the link runs plain TCP (plain_tcp, or no TLS key given).
bool plain_link(const TlsSettings& settings);
// At start: the LinkTls of `settings` (logged), or null with a warning for plain TCP. Throws as
// load_link_tls. `peer` names the other daemon in the log lines.
std::shared_ptr<LinkTls> start_link_tls(const TlsSettings& settings, TlsRole role,
                                        const std::string& default_server_name,
                                        const std::string& peer);
// On reload: sets `out` to a new LinkTls read from `next` when the running link is TLS (null
// otherwise). Returns false, with the reason logged, when the new files cannot be used: then
// the reload is refused and the old certificates stay.
bool reload_link_tls(const TlsSettings& running, const TlsSettings& next, TlsRole role,
                     const std::string& default_server_name, std::shared_ptr<LinkTls>& out);

// The DNS subjectAltNames and subject CN of a certificate.
PresentedIdentities presented_identities(x509_st* certificate);

// A link error in words: TLS alerts from the peer become what they mean ("img-cached refused
// this certificate: unknown CA"); any other error is its message.
std::string explain_link_error(const boost::system::error_code& ec);

}  // namespace imgx::link
