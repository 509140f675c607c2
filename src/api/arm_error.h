// ARM's error answers: {"error": {"code": "ResourceNotFound", "message": "..."}}, the shape the
// Azure SDKs parse into a RestError (its `code` and `message`). Used by the ACI-compatible API.
#pragma once

#include <string>
#include <string_view>

#include "api/http_types.h"
#include "common/status.h"

namespace berth {

// An ARM error: the HTTP status, ARM's code (a PascalCase name) and a message for people.
struct ArmError {
  int status = 400;
  std::string code;
  std::string message;
};

// `error` as an HTTP response in ARM's shape.
HttpResponse ArmErrorResponse(const ArmError& error);

// The ARM error for a Status from the job service: the HTTP code of HttpCodeFor and a code named
// after its kind (InvalidRequestContent, ResourceNotFound, Conflict, InternalServerError, ...).
ArmError ArmErrorFor(const Status& st);

// ARM's answer to a request without ?api-version=.
ArmError MissingApiVersion();

// ARM's answer to a request without a valid bearer token (401, AuthenticationFailed).
ArmError AuthenticationFailed(std::string_view why);

}  // namespace berth
