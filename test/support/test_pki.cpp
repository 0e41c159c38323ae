// The openssl command lines behind TestPki.
#include "support/test_pki.hpp"

#include <unistd.h>

#include <fstream>
#include <stdexcept>

#include "support/process.hpp"
#include "support/test_status.hpp"

namespace imgtest {

namespace {

constexpr auto kOpensslTimeout = seconds(30);

std::string find_openssl() {
    for (const char* dir : {"/usr/bin", "/bin", "/usr/local/bin"}) {
        std::string candidate = std::string(dir) + "/openssl";
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return {};
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace

TestPki::TestPki(std::string dir) : dir_(std::move(dir)) {
    if (find_openssl().empty())
        skip_test("the openssl command is not installed (apt-get install openssl)");
}

void TestPki::openssl(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {find_openssl()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto result = run_command(argv, kOpensslTimeout);
    if (result.exit_status != 0) {
        std::string line;
        for (const auto& a : argv) line += a + " ";
        throw std::runtime_error("openssl failed: " + line + "\n" + result.err);
    }
}

std::string TestPki::make_ca(const std::string& name) {
    // The CA's database for `openssl ca` (revocations and CRLs).
    write_file(path(name + ".index"), "");
    write_file(path(name + ".crlnumber"), "01\n");
    write_file(path(name + ".cnf"),
               "[ca]\ndefault_ca = this\n"
               "[this]\ndatabase = " +
                   path(name + ".index") + "\ncrlnumber = " + path(name + ".crlnumber") +
                   "\ndefault_md = sha256\ndefault_crl_days = 2\n"
                   "[req]\ndistinguished_name = dn\nx509_extensions = ca_ext\nprompt = no\n"
                   "[dn]\nCN = " +
                   name +
                   "\n"
                   "[ca_ext]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, "
                   "keyCertSign, cRLSign\n"
                   "subjectKeyIdentifier = hash\n");
    openssl({"req", "-x509", "-config", path(name + ".cnf"), "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", path(name + ".key"), "-out",
             path(name + ".pem"), "-days", "2"});
    return path(name + ".pem");
}

IssuedCertificate TestPki::issue(const std::string& ca, const std::string& name,
                                 const std::vector<std::string>& dns,
                                 const std::vector<std::string>& ips) {
    std::string names;
    for (const auto& d : dns) names += (names.empty() ? "" : ",") + std::string("DNS:") + d;
    for (const auto& ip : ips) names += (names.empty() ? "" : ",") + std::string("IP:") + ip;
    std::string extensions =
        "basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = serverAuth, clientAuth\n";
    if (!names.empty()) extensions += "subjectAltName = " + names + "\n";
    write_file(path(name + ".ext"), extensions);
    IssuedCertificate out{path(name + ".pem"), path(name + ".key")};
    openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", out.key, "-out", path(name + ".csr"), "-subj", "/CN=" + name});
    openssl({"x509", "-req", "-in", path(name + ".csr"), "-CA", path(ca + ".pem"), "-CAkey",
             path(ca + ".key"), "-CAcreateserial", "-out", out.cert, "-days", "2", "-sha256",
             "-extfile", path(name + ".ext")});
    return out;
}

std::string TestPki::revoke(const std::string& ca, const IssuedCertificate& certificate) {
    const std::string config = path(ca + ".cnf");
    openssl({"ca", "-config", config, "-keyfile", path(ca + ".key"), "-cert", path(ca + ".pem"),
             "-revoke", certificate.cert});
    const std::string crl = path(ca + ".crl.pem");
    openssl({"ca", "-config", config, "-keyfile", path(ca + ".key"), "-cert", path(ca + ".pem"),
             "-gencrl", "-out", crl});
    return crl;
}

}  // namespace imgtest
