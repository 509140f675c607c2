// Status and Result<T>: how berth reports errors across layers.
//
// A Status is either OK (cheap) or a code plus a message. Result<T> holds a T or a non-OK
// Status. Exceptions never cross a layer; throwing libraries are caught where they are called.
// Both types are plain values and safe to move between threads.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace berth {

enum class StatusCode {
  kOk,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kUnauthenticated,
  kPermissionDenied,
  kResourceExhausted,
  kUnavailable,
  kDeadlineExceeded,
  kIoError,
  kInternal,
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {StatusCode::kInvalidArgument, msg}; }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, msg}; }
  static Status AlreadyExists(std::string msg) { return {StatusCode::kAlreadyExists, msg}; }
  static Status FailedPrecondition(std::string msg) {
    return {StatusCode::kFailedPrecondition, msg};
  }
  static Status Unauthenticated(std::string msg) { return {StatusCode::kUnauthenticated, msg}; }
  static Status PermissionDenied(std::string msg) { return {StatusCode::kPermissionDenied, msg}; }
  static Status ResourceExhausted(std::string msg) { return {StatusCode::kResourceExhausted, msg}; }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, msg}; }
  static Status DeadlineExceeded(std::string msg) { return {StatusCode::kDeadlineExceeded, msg}; }
  static Status IoError(std::string msg) { return {StatusCode::kIoError, msg}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, msg}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsNotFound() const { return code_ == StatusCode::kNotFound; }
  bool IsInvalidArgument() const { return code_ == StatusCode::kInvalidArgument; }

  // "NotFound: job 123 does not exist"; "OK" for success.
  std::string ToString() const;

  // A copy whose message is prefixed with `context: `.
  Status WithContext(std::string_view context) const;

 private:
  Status(StatusCode code, std::string msg) : code_(code), message_(std::move(msg)) {}
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Translates an errno value into a Status naming `context` (the one place errno is mapped).
Status ErrnoStatus(std::string_view context, int err);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace berth

#define BERTH_CONCAT_INNER(a, b) a##b
#define BERTH_CONCAT(a, b) BERTH_CONCAT_INNER(a, b)

// Returns the Status of `expr` from the enclosing function when it is not OK.
#define RETURN_IF_ERROR(expr)     \
  do {                            \
    ::berth::Status _st = (expr); \
    if (!_st.ok()) return _st;    \
  } while (0)

// Evaluates a Result<T> expression; returns its Status on error, else binds the value to lhs.
#define ASSIGN_OR_RETURN(lhs, expr) ASSIGN_OR_RETURN_IMPL(BERTH_CONCAT(_res_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()
