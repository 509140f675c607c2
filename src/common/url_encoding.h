// Percent-encoding for URLs (RFC 3986): the one encoder of query values and path segments that
// berth's clients (CLI, registry, Azure Storage) and the ACI API's links use.
#pragma once

#include <string>
#include <string_view>

namespace berth {

// `s` with every byte but the unreserved characters (ALPHA DIGIT - . _ ~) as %XX (upper-case
// hex): safe as a query value or a single path segment.
std::string PercentEncode(std::string_view s);

}  // namespace berth
