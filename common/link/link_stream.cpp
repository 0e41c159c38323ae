// The link stream: the TLS handshake and its checks (CA, name or identity, CRL), or plain TCP.
#include "link/link_stream.hpp"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/verify_context.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace imgx::link {

namespace asio = boost::asio;

namespace {

// The proxy checks img-cached's certificate against its expected name (DNS name or IP address)
// and sends the name as SNI.
void expect_server_name(SSL* ssl, const std::string& name) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    boost::system::error_code ec;
    asio::ip::make_address(name, ec);
    if (!ec) {
        X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
        return;
    }
    X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
    SSL_set_tlsext_host_name(ssl, name.c_str());
}

}  // namespace

LinkStream::LinkStream(TcpSocket socket)
    : stream_(std::in_place_type<TcpSocket>, std::move(socket)) {}

LinkStream::LinkStream(TcpSocket socket, std::shared_ptr<LinkTls> tls)
    : tls_(std::move(tls)),
      stream_(std::in_place_type<TlsStream>, std::move(socket), tls_->context) {}

LinkStream::TcpSocket& LinkStream::tcp() {
    if (auto* tls = std::get_if<TlsStream>(&stream_)) return tls->next_layer();
    return std::get<TcpSocket>(stream_);
}

TcpProgress LinkStream::tcp_progress() {
    if (!tcp().is_open()) return {};
    return imgx::tcp_progress(tcp().native_handle());
}

void LinkStream::close() {
    in_->clear();
    boost::system::error_code ignored;
    tcp().close(ignored);
}

asio::awaitable<void> LinkStream::handshake(std::string peer) {
    auto* tls = std::get_if<TlsStream>(&stream_);
    if (!tls) co_return;
    SSL* ssl = tls->native_handle();
    const bool client = tls_->role == TlsRole::client;
    if (client) {
        expect_server_name(ssl, tls_->server_name);
    } else {
        // After the chain checks pass, the client's own certificate must carry an allowed identity.
        tls->set_verify_callback([this](bool preverified, asio::ssl::verify_context& context) {
            X509_STORE_CTX* store = context.native_handle();
            if (!preverified || X509_STORE_CTX_get_error_depth(store) != 0) return preverified;
            const auto presented = presented_identities(X509_STORE_CTX_get_current_cert(store));
            if (auto name = allowed_identity(presented, tls_->allowed_clients)) {
                identity_ = describe_names({*name});
                return true;
            }
            rejection_ = fmt::format(
                "its certificate's identity ({}) is not in tls_allowed_clients ({})",
                describe_names(identities_of(presented)), describe_names(tls_->allowed_clients));
            X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
            return false;
        });
    }
    auto type = asio::ssl::stream_base::server;
    if (client) type = asio::ssl::stream_base::client;
    boost::system::error_code ec;
    co_await tls->async_handshake(type, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
        if (identity_.empty())
            identity_ =
                describe_names(identities_of(presented_identities(SSL_get0_peer_certificate(ssl))));
        co_return;
    }

    std::string reason;
    const long verify = SSL_get_verify_result(ssl);
    if (!rejection_.empty()) {
        reason = rejection_;
    } else if (verify != X509_V_OK) {
        reason = fmt::format("its certificate is not accepted: {}",
                             X509_verify_cert_error_string(verify));
        if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
            reason += fmt::format(" (expected '{}', tls_server_name)", tls_->server_name);
        else if (verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
                 verify == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
                 verify == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
            reason += " (issued by a CA not in tls_ca)";
        else if (verify == X509_V_ERR_CERT_REVOKED)
            reason += " (tls_crl)";
    } else {
        reason = explain_link_error(ec);
    }
    throw LinkTlsError(fmt::format("TLS handshake with {} failed: {}", peer, reason));
}

}  // namespace imgx::link
