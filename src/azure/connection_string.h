// StorageAccount: where an Azure Storage queue lives and how requests to it are authorized,
// parsed from the AzureWebJobsStorage connection string. Three forms:
// - "UseDevelopmentStorage=true": Azurite's well-known devstoreaccount1 account and key at
//   http://127.0.0.1:10001/devstoreaccount1;
// - "DefaultEndpointsProtocol=https;AccountName=A;AccountKey=K;" (optional EndpointSuffix,
//   QueueEndpoint): SharedKey signing;
// - "SharedAccessSignature=sv=...&sig=...;QueueEndpoint=..." (or AccountName instead of the
//   endpoint): the SAS token is appended to every request.
// Plain value type.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace berth {

struct StorageAccount {
  std::string name;            // account name ("devstoreaccount1")
  std::string key;             // account key, decoded (raw bytes); empty with a SAS
  std::string sas;             // SAS token without its leading '?'; empty with a key
  std::string queue_endpoint;  // "https://acct.queue.core.windows.net" (no trailing '/')
};

// Azurite's well-known development account (public; documented by Microsoft).
inline constexpr std::string_view kDevelopmentAccountName = "devstoreaccount1";
inline constexpr std::string_view kDevelopmentAccountKey =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
inline constexpr std::string_view kDevelopmentQueueEndpoint =
    "http://127.0.0.1:10001/devstoreaccount1";

// Parses a connection string (keys are case-insensitive; empty segments are ignored).
// InvalidArgument names the part that is wrong; it never repeats a key or a signature.
Result<StorageAccount> ParseConnectionString(std::string_view text);

namespace azure {
// Standard base64 (with padding), over OpenSSL. (images/ has its own for registry auth; these
// are strict: no whitespace, padding required.)
std::string Base64Encode(std::string_view data);
// InvalidArgument when `text` is not standard base64 with correct padding.
Result<std::string> Base64Decode(std::string_view text);
}  // namespace azure

}  // namespace berth
