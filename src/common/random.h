// Identifiers and secrets from the system CSPRNG (OpenSSL RAND_bytes). Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace berth {

// A random RFC 4122 version 4 UUID in lower-case canonical form.
std::string NewUuidV4();

// True when `s` is a canonical lower- or upper-case UUID (8-4-4-4-12 hex digits).
bool IsCanonicalUuid(std::string_view s);

// `n` random bytes encoded as URL-safe base64 without padding.
std::string RandomUrlSafeToken(size_t n);

// Compares two secrets in time independent of where they differ (hashes both first, so the
// time does not depend on their lengths either).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace berth
