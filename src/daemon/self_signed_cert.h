// A self-signed TLS certificate for a listener that must speak HTTPS without one configured
// (ArmListen: the Azure SDKs send tokens over https only). Made with OpenSSL: an EC P-256 key and
// a certificate for 127.0.0.1, ::1 and localhost (plus any `extra_hosts`), valid for ten years.
// Clients trust it by its file (NODE_EXTRA_CA_CERTS, curl --cacert).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/status.h"

namespace berth {

struct CertificatePair {
  std::filesystem::path cert_file;  // PEM certificate
  std::filesystem::path key_file;   // PEM private key, mode 0600
  bool created = false;             // made by this call (else both were there)
};

// Makes `dir`/`name`.crt and `dir`/`name`.key unless both exist already (then they are kept
// as they are). Each file is published crash-safely (temp, fsync, rename), the key first; a
// half pair (one file missing) is made again whole. `extra_hosts` are more DNS names or IP
// addresses for the certificate's subjectAltName.
Result<CertificatePair> EnsureSelfSignedCertificate(
    const std::filesystem::path& dir, const std::string& name,
    const std::vector<std::string>& extra_hosts = {});

}  // namespace berth
