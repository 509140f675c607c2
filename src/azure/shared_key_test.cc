#include "azure/shared_key.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

StorageAccount Azurite() {
  StorageAccount a;
  a.name = "devstoreaccount1";
  a.key = *azure::Base64Decode(kDevelopmentAccountKey);
  a.queue_endpoint = std::string(kDevelopmentQueueEndpoint);
  return a;
}

StorageRequest GetMessages() {
  StorageRequest req;
  req.method = "GET";
  req.path = "/devstoreaccount1/jobs/messages";
  req.query = {{"visibilitytimeout", "60"}, {"numofmessages", "16"}};
  req.headers = {{"x-ms-version", "2021-12-02"}, {"x-ms-date", "Mon, 30 Nov 2026 08:00:00 GMT"}};
  return req;
}

// The documented layout, written out by hand: twelve standard header lines (all empty here),
// the x-ms- headers sorted, then the account and the path-style path (the account twice) and
// the query parameters sorted by name.
TEST(SharedKeyTest, StringToSignForAPathStyleGet) {
  EXPECT_EQ(SharedKeyStringToSign(GetMessages(), "devstoreaccount1"),
            "GET\n\n\n\n\n\n\n\n\n\n\n\n"
            "x-ms-date:Mon, 30 Nov 2026 08:00:00 GMT\n"
            "x-ms-version:2021-12-02\n"
            "/devstoreaccount1/devstoreaccount1/jobs/messages\n"
            "numofmessages:16\n"
            "visibilitytimeout:60");
}

// The expected signatures were computed outside berth from the string to sign above:
//   printf '<string>' | openssl dgst -sha256 -mac HMAC -macopt hexkey:<key as hex> -binary | base64
TEST(SharedKeyTest, SignatureMatchesOpenSslCommandLine) {
  StorageRequest req = GetMessages();
  AuthorizeRequest(Azurite(), req);
  ASSERT_EQ(req.headers.back().first, "Authorization");
  EXPECT_EQ(req.headers.back().second,
            "SharedKey devstoreaccount1:EbXKRNZPEO2M1TO1RItoIZE7ybOlcgD7tPOWHAZQIhE=");
}

// An empty-body PUT: Content-Length 0 signs as an empty line; the Content-Type that is sent is
// signed; query values are signed decoded.
TEST(SharedKeyTest, EmptyBodyPutSignsItsContentTypeAndDecodedQuery) {
  StorageRequest req;
  req.method = "PUT";
  req.path = "/devstoreaccount1/jobs/messages/6a1b";
  req.query = {{"popreceipt", "AgAAAAMAAAAAAAAA+/x="}, {"visibilitytimeout", "0"}};
  req.headers = {{"x-ms-date", "Mon, 30 Nov 2026 08:00:00 GMT"},
                 {"x-ms-version", "2021-12-02"},
                 {"Content-Length", "0"},
                 {"Content-Type", "text/plain"}};
  EXPECT_EQ(SharedKeyStringToSign(req, "devstoreaccount1"),
            "PUT\n\n\n\n\ntext/plain\n\n\n\n\n\n\n"
            "x-ms-date:Mon, 30 Nov 2026 08:00:00 GMT\n"
            "x-ms-version:2021-12-02\n"
            "/devstoreaccount1/devstoreaccount1/jobs/messages/6a1b\n"
            "popreceipt:AgAAAAMAAAAAAAAA+/x=\n"
            "visibilitytimeout:0");
  AuthorizeRequest(Azurite(), req);
  EXPECT_EQ(req.headers.back().second,
            "SharedKey devstoreaccount1:gGL4rWjQPbbb7Cywp+E3PPCIUPEBd5Y8Z08fW4O0RRU=");
  EXPECT_EQ(EncodeQuery(req), "popreceipt=AgAAAAMAAAAAAAAA%2B%2Fx%3D&visibilitytimeout=0");
}

TEST(SharedKeyTest, SasAppendsItsTokenAndSignsNothing) {
  StorageAccount a;
  a.name = "acct1";
  a.sas = "sv=2021-12-02&sp=raup&sig=abc%2Bdef%3D";
  a.queue_endpoint = "https://acct1.queue.core.windows.net";
  StorageRequest req = GetMessages();
  size_t headers = req.headers.size();
  AuthorizeRequest(a, req);
  EXPECT_EQ(req.headers.size(), headers);
  EXPECT_EQ(EncodeQuery(req),
            "visibilitytimeout=60&numofmessages=16&sv=2021-12-02&sp=raup&sig=abc%2Bdef%3D");
}

}  // namespace
}  // namespace berth
