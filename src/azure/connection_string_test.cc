#include "azure/connection_string.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace berth {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kKey[] = "a2V5LWJ5dGVzLWZvci10ZXN0cw==";  // base64("key-bytes-for-tests")

TEST(ConnectionStringTest, DevelopmentStorageIsAzuritesWellKnownAccount) {
  auto a = ParseConnectionString("UseDevelopmentStorage=true");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->name, "devstoreaccount1");
  EXPECT_EQ(a->queue_endpoint, "http://127.0.0.1:10001/devstoreaccount1");
  EXPECT_EQ(azure::Base64Encode(a->key), kDevelopmentAccountKey);
  EXPECT_TRUE(a->sas.empty());
  EXPECT_TRUE(ParseConnectionString(" usedevelopmentstorage = TRUE ; ").ok());
  EXPECT_FALSE(ParseConnectionString("UseDevelopmentStorage=false").ok());
  EXPECT_FALSE(ParseConnectionString("UseDevelopmentStorage=true;AccountName=x").ok());
}

TEST(ConnectionStringTest, AccountKeyFormBuildsTheCloudEndpoint) {
  auto a = ParseConnectionString(std::string("DefaultEndpointsProtocol=https;AccountName=acct1;"
                                             "AccountKey=") +
                                 kKey + ";EndpointSuffix=core.windows.net");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->name, "acct1");
  EXPECT_EQ(a->key, "key-bytes-for-tests");
  EXPECT_EQ(a->queue_endpoint, "https://acct1.queue.core.windows.net");
  auto defaults = ParseConnectionString(std::string("AccountName=acct1;AccountKey=") + kKey);
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->queue_endpoint, "https://acct1.queue.core.windows.net");
}

TEST(ConnectionStringTest, QueueEndpointOverridesAndOtherEndpointsAreIgnored) {
  auto a = ParseConnectionString(
      std::string("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=") + kKey +
      ";BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
      "QueueEndpoint=http://127.0.0.1:4567/devstoreaccount1/;");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->queue_endpoint, "http://127.0.0.1:4567/devstoreaccount1");
}

TEST(ConnectionStringTest, SharedAccessSignatureForm) {
  auto a = ParseConnectionString(
      "QueueEndpoint=https://acct1.queue.core.windows.net;"
      "SharedAccessSignature=?sv=2021-12-02&ss=q&srt=sco&sp=rwdlacup&se=2030-01-01T00:00:00Z&sig="
      "abc%2Bdef%3D");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->sas,
            "sv=2021-12-02&ss=q&srt=sco&sp=rwdlacup&se=2030-01-01T00:00:00Z&sig=abc%2Bdef%3D");
  EXPECT_TRUE(a->key.empty());
  EXPECT_EQ(a->name, "acct1");
  auto path_style = ParseConnectionString(
      "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;SharedAccessSignature=sv=1&sig=x");
  ASSERT_TRUE(path_style.ok());
  EXPECT_EQ(path_style->name, "devstoreaccount1");
}

void ExpectRefused(const std::string& text, const std::string& says) {
  auto a = ParseConnectionString(text);
  ASSERT_FALSE(a.ok()) << text;
  EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(a.status().message(), HasSubstr(says)) << text;
  // Never a secret in an error.
  EXPECT_THAT(a.status().message(), Not(HasSubstr("a2V5")));
  EXPECT_THAT(a.status().message(), Not(HasSubstr("sig=s3cr3t")));
}

TEST(ConnectionStringTest, PreciseErrorsWithoutSecrets) {
  ExpectRefused("", "empty");
  ExpectRefused("AccountName=acct1", "AccountKey");
  ExpectRefused(std::string("AccountKey=") + kKey, "AccountName");
  ExpectRefused("AccountName=acct1;AccountKey=not*base64", "AccountKey is not base64");
  ExpectRefused(std::string("AccountName=Bad_Name;AccountKey=") + kKey, "AccountName");
  ExpectRefused(std::string("AccountName=acct1;AccountKey=") + kKey +
                    ";SharedAccessSignature=sv=1&sig=s3cr3t",
                "not both");
  ExpectRefused("SharedAccessSignature=sv=1", "sig=");
  ExpectRefused("SharedAccessSignature=sv=1&sig=s3cr3t", "QueueEndpoint or AccountName");
  ExpectRefused(std::string("AccountName=acct1;AccountKey=") + kKey + ";QueueEndpoint=ftp://x",
                "QueueEndpoint");
  ExpectRefused(std::string("AccountName=acct1;AccountKey=") + kKey + ";Colour=blue",
                "unknown part 'colour'");
  ExpectRefused(std::string("AccountName=acct1;AccountKey=") + kKey + ";AccountName=acct2",
                "given twice");
  ExpectRefused(std::string("DefaultEndpointsProtocol=ftp;AccountName=acct1;AccountKey=") + kKey,
                "DefaultEndpointsProtocol");
  ExpectRefused("AccountName=acct1;sig=s3cr3t-without-a-name;junk", "NAME=VALUE");
}

TEST(Base64Test, StrictRoundTrip) {
  EXPECT_EQ(azure::Base64Encode("6d07bd04"), "NmQwN2JkMDQ=");
  EXPECT_EQ(*azure::Base64Decode("NmQwN2JkMDQ="), "6d07bd04");
  EXPECT_EQ(*azure::Base64Decode(""), "");
  EXPECT_FALSE(azure::Base64Decode("NmQwN2JkMDQ").ok());    // padding missing
  EXPECT_FALSE(azure::Base64Decode("{\"image\":1}").ok());  // JSON is not base64
  EXPECT_FALSE(azure::Base64Decode("Nm=wN2JkMDQ=").ok());   // '=' inside
}

}  // namespace
}  // namespace berth
