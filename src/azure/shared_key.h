// SharedKey signing for the Azure Storage queue service: the string to sign is built from
// exactly the headers a request carries (a header curl would add on its own must be set or
// suppressed by the caller, or the server's string differs), and the signature is
// base64(HMAC-SHA256(account key, string to sign)) over OpenSSL. A SAS account signs nothing:
// its token is appended to the query. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "azure/connection_string.h"
#include "common/url_encoding.h"

namespace berth {

// A request to the queue service as it is sent.
struct StorageRequest {
  std::string method;  // "GET", "PUT", "POST", "DELETE"
  // The URL path as sent, starting with '/'. Path-style endpoints (Azurite) carry the account
  // in it: "/devstoreaccount1/jobs/messages".
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;    // names and values, not encoded
  std::vector<std::pair<std::string, std::string>> headers;  // exactly what is sent
  std::string body;
};

// The SharedKey string to sign (Storage services version 2015-02-21 and later: Content-Length
// is empty when zero). The canonicalized resource is "/" + account + path, so a path-style URL
// names the account twice ("/devstoreaccount1/devstoreaccount1/jobs/messages").
std::string SharedKeyStringToSign(const StorageRequest& req, std::string_view account);

// base64(HMAC-SHA256(key, string_to_sign)); `key` is the decoded account key.
std::string SharedKeySignature(std::string_view key, std::string_view string_to_sign);

// Authorizes `req` for `account`: adds "Authorization: SharedKey name:signature", or, for a
// SAS account, appends the token's parameters to the query. Call after every other header is
// set.
void AuthorizeRequest(const StorageAccount& account, StorageRequest& req);

// The query string of `req` ("a=1&b=x%2By"), without '?'.
std::string EncodeQuery(const StorageRequest& req);

}  // namespace berth
