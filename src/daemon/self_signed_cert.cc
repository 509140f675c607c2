#include "daemon/self_signed_cert.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <functional>
#include <memory>

#include "common/files.h"

namespace berth {
namespace {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;

Status OpenSslError(const std::string& what) { return Status::Internal("openssl: " + what); }

bool IsIpAddress(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

Status AddExtension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpenSslError("add extension " + std::string(OBJ_nid2sn(nid)) + " = " + value);
  }
  return Status::Ok();
}

Result<std::string> ToPem(const std::function<int(BIO*)>& write) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) return OpenSslError("write PEM");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace

Result<CertificatePair> EnsureSelfSignedCertificate(const std::filesystem::path& dir,
                                                    const std::string& name,
                                                    const std::vector<std::string>& extra_hosts) {
  CertificatePair pair{dir / (name + ".crt"), dir / (name + ".key"), false};
  std::error_code ec;
  if (std::filesystem::exists(pair.cert_file, ec) && std::filesystem::exists(pair.key_file, ec)) {
    return pair;
  }
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return OpenSslError("generate an EC P-256 key");
  X509Ptr cert(X509_new());
  if (!cert) return OpenSslError("X509_new");
  X509_set_version(cert.get(), 2);  // v3
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return OpenSslError("RAND_bytes");
  serial[0] &= 0x7f;  // a positive serial number
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  ASN1_INTEGER* sn = bn ? BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get())) : nullptr;
  BN_free(bn);
  if (sn == nullptr) return OpenSslError("serial number");
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("berth"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), subject);
  if (X509_set_pubkey(cert.get(), key.get()) != 1) return OpenSslError("set the public key");
  std::string san = "IP:127.0.0.1,IP:::1,DNS:localhost";
  for (const std::string& host : extra_hosts) {
    if (host.empty() || host.find_first_of(", \t\r\n") != std::string::npos) {
      return Status::InvalidArgument("not a host name or address: '" + host + "'");
    }
    san += (IsIpAddress(host) ? ",IP:" : ",DNS:") + host;
  }
  RETURN_IF_ERROR(AddExtension(cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
  RETURN_IF_ERROR(
      AddExtension(cert.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment"));
  RETURN_IF_ERROR(AddExtension(cert.get(), NID_ext_key_usage, "serverAuth"));
  RETURN_IF_ERROR(AddExtension(cert.get(), NID_subject_alt_name, san));
  RETURN_IF_ERROR(AddExtension(cert.get(), NID_subject_key_identifier, "hash"));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) return OpenSslError("sign");

  ASSIGN_OR_RETURN(std::string key_pem, ToPem([&](BIO* b) {
                     return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr,
                                                     nullptr);
                   }));
  ASSIGN_OR_RETURN(std::string cert_pem,
                   ToPem([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()); }));
  RETURN_IF_ERROR(MakeDirs(dir, 0700));
  // The key first: a crash in between leaves a key without a certificate, made again next time.
  RETURN_IF_ERROR(WriteFileAtomic(pair.key_file, key_pem, 0600));
  RETURN_IF_ERROR(WriteFileAtomic(pair.cert_file, cert_pem, 0644));
  pair.created = true;
  return pair;
}

}  // namespace berth
