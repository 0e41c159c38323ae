// Throwaway CAs, certificates and CRLs for the TLS tests, made with the openssl command line.
#pragma once

#include <string>
#include <vector>

namespace imgtest {

struct IssuedCertificate {
    std::string cert;  // PEM certificate
    std::string key;   // PEM private key
};

// Everything lives in `dir` (a test's temp dir) and is valid for two days. The constructor skips
// the test (exit 77) when the openssl command is missing.
class TestPki {
  public:
    explicit TestPki(std::string dir);

    // A self-signed CA named `name`; returns its PEM certificate (the tls_ca file).
    std::string make_ca(const std::string& name);
    // A certificate for `name` (its file names and subject CN) signed by CA `ca`, with these DNS
    // and IP subjectAltNames (none at all when both are empty: the CN is the identity).
    IssuedCertificate issue(const std::string& ca, const std::string& name,
                            const std::vector<std::string>& dns,
                            const std::vector<std::string>& ips = {});
    // Revokes `certificate` (issued by `ca`) and returns the CA's new CRL file.
    std::string revoke(const std::string& ca, const IssuedCertificate& certificate);

  private:
    void openssl(const std::vector<std::string>& args) const;
    std::string path(const std::string& name) const { return dir_ + "/" + name; }

    std::string dir_;
};

}  // namespace imgtest
