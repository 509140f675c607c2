// Registry authentication pieces: the WWW-Authenticate challenge a registry answers 401 with,
// and credentials from a Docker config.json ("auths": {"host": {"auth": base64(user:pass)}}).
//
// The token exchange itself lives in registry_client.cc; these are pure functions, safe to call
// from any thread.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace berth {

// `Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"`.
struct AuthChallenge {
  std::string scheme;                         // lower-case: "bearer", "basic"
  std::map<std::string, std::string> params;  // lower-case names, unquoted values
};

// Parses one challenge. InvalidArgument when there is no scheme.
Result<AuthChallenge> ParseAuthChallenge(std::string_view header);

struct Credentials {
  std::string username;
  std::string password;
  bool empty() const { return username.empty() && password.empty(); }
};

// The credentials `auth_file` holds for `registry` (host[:port]); empty when it names none or
// `auth_file` is empty. Keys may be bare hosts or URLs ("https://index.docker.io/v1/"); Docker
// Hub ("docker.io") also matches its index and registry-1 hosts. InvalidArgument when the file
// is unreadable or malformed.
Result<Credentials> LookupCredentials(const std::filesystem::path& auth_file,
                                      std::string_view registry);

std::string Base64Encode(std::string_view data);
// InvalidArgument on malformed input.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace berth
