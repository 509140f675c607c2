#include "api/arm_error.h"

#include <nlohmann/json.hpp>

#include "api/job_api.h"
#include "api/job_json.h"

namespace berth {

HttpResponse ArmErrorResponse(const ArmError& error) {
  HttpResponse r =
      JsonResponse(error.status, {{"error", {{"code", error.code}, {"message", error.message}}}});
  if (error.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

ArmError ArmErrorFor(const Status& st) {
  int status = HttpCodeFor(st);
  std::string code;
  switch (st.code()) {
    case StatusCode::kInvalidArgument:
      code = "InvalidRequestContent";
      break;
    case StatusCode::kUnauthenticated:
      code = "AuthenticationFailed";
      break;
    case StatusCode::kPermissionDenied:
      code = "AuthorizationFailed";
      break;
    case StatusCode::kNotFound:
      code = "ResourceNotFound";
      break;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
      code = "Conflict";
      break;
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnavailable:
      code = "ServiceUnavailable";
      break;
    case StatusCode::kDeadlineExceeded:
      code = "GatewayTimeout";
      break;
    default:
      code = "InternalServerError";
      break;
  }
  return {status, code, st.message()};
}

ArmError MissingApiVersion() {
  return {400, "MissingApiVersionParameter",
          "The api-version query parameter (?api-version=) is required for all requests."};
}

ArmError AuthenticationFailed(std::string_view why) {
  return {401, "AuthenticationFailed", std::string(why)};
}

}  // namespace berth
