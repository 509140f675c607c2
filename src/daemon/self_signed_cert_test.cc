#include "daemon/self_signed_cert.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <memory>

#include "common/files.h"

namespace berth {
namespace {

class SelfSignedCertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-cert-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static X509* LoadCert(const std::filesystem::path& file) {
    FILE* f = fopen(file.c_str(), "r");
    if (f == nullptr) return nullptr;
    X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
    fclose(f);
    return cert;
  }
  static EVP_PKEY* LoadKey(const std::filesystem::path& file) {
    FILE* f = fopen(file.c_str(), "r");
    if (f == nullptr) return nullptr;
    EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    fclose(f);
    return key;
  }

  std::filesystem::path dir_;
};

TEST_F(SelfSignedCertTest, MakesAServerCertificateForLoopbackThatTrustsItself) {
  auto pair = EnsureSelfSignedCertificate(dir_ / "tls", "arm-tls", {"berth.example", "10.1.2.3"});
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  EXPECT_TRUE(pair->created);
  struct stat st {};
  ASSERT_EQ(stat(pair->key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);

  std::unique_ptr<X509, decltype(&X509_free)> cert(LoadCert(pair->cert_file), X509_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(LoadKey(pair->key_file), EVP_PKEY_free);
  ASSERT_TRUE(cert && key);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "berth.example", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "other.example", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "10.1.2.3", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.2", 0), 0);

  // A client that trusts the file (as NODE_EXTRA_CA_CERTS does) verifies it as a TLS server.
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  ASSERT_EQ(X509_STORE_add_cert(store.get(), cert.get()), 1);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                      X509_STORE_CTX_free);
  ASSERT_EQ(X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr), 1);
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM_set1_ip_asc(X509_STORE_CTX_get0_param(ctx.get()), "127.0.0.1");
  EXPECT_EQ(X509_verify_cert(ctx.get()), 1)
      << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
}

TEST_F(SelfSignedCertTest, AnExistingPairIsKeptAndAHalfPairIsMadeAgain) {
  auto first = EnsureSelfSignedCertificate(dir_, "arm-tls");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto cert = ReadFile(first->cert_file);
  ASSERT_TRUE(cert.ok());
  auto again = EnsureSelfSignedCertificate(dir_, "arm-tls");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(*ReadFile(again->cert_file), *cert);

  std::filesystem::remove(first->cert_file);
  auto remade = EnsureSelfSignedCertificate(dir_, "arm-tls");
  ASSERT_TRUE(remade.ok());
  EXPECT_TRUE(remade->created);
  EXPECT_NE(*ReadFile(remade->cert_file), *cert);
  std::unique_ptr<X509, decltype(&X509_free)> c(LoadCert(remade->cert_file), X509_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> k(LoadKey(remade->key_file), EVP_PKEY_free);
  ASSERT_TRUE(c && k);
  EXPECT_EQ(X509_check_private_key(c.get(), k.get()), 1);
}

TEST_F(SelfSignedCertTest, AHostThatCannotBeANameIsRefused) {
  auto pair = EnsureSelfSignedCertificate(dir_, "arm-tls", {"a,DNS:evil"});
  EXPECT_EQ(pair.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "arm-tls.key"));
}

}  // namespace
}  // namespace berth
