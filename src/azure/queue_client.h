// QueueService: the operations of an Azure Storage queue berth uses (the REST API of the queue
// service), and QueueClient, their implementation on libcurl against a real account (Azure or
// Azurite), signed with SharedKey or a SAS (shared_key.h). Responses are XML, parsed with
// pugixml. Thread-safe: requests run in parallel on a small pool of curl handles.
//
// Errors: an unreachable service or a 5xx is Unavailable; a message whose pop receipt is stale
// or that is gone is FailedPrecondition; a missing queue is NotFound; a refused signature is
// PermissionDenied (with the service's error code); anything else the service refuses is
// InvalidArgument with its error code and message.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "azure/connection_string.h"
#include "azure/shared_key.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"

namespace berth {

// One message as the service returns it.
struct AzureMessage {
  std::string id;           // MessageId (a GUID)
  std::string pop_receipt;  // empty from a peek
  std::string text;         // MessageText, as stored (still encoded)
  int dequeue_count = 0;
  TimePoint inserted_at;
  TimePoint next_visible;  // empty from a peek
};

// What an Update Message answers: the message's new pop receipt and when it is visible again.
struct UpdatedMessage {
  std::string pop_receipt;
  TimePoint next_visible;
};

class QueueService {
 public:
  virtual ~QueueService() = default;
  // Creates `queue`; OK when it exists already.
  virtual Status CreateQueue(std::string_view queue) = 0;
  // Puts `text` on `queue`, visible after `visibility`, never expiring (messagettl=-1).
  virtual Status PutMessage(std::string_view queue, std::string_view text,
                            std::chrono::seconds visibility) = 0;
  // Gets up to `max` (1..32) visible messages, each invisible for `visibility` and counted one
  // dequeue more.
  virtual Result<std::vector<AzureMessage>> GetMessages(std::string_view queue, int max,
                                                        std::chrono::seconds visibility) = 0;
  // Up to `max` (1..32) visible messages, left as they are.
  virtual Result<std::vector<AzureMessage>> PeekMessages(std::string_view queue, int max) = 0;
  // Makes a message visible again after `visibility` (content unchanged).
  virtual Result<UpdatedMessage> UpdateVisibility(std::string_view queue, std::string_view id,
                                                  std::string_view pop_receipt,
                                                  std::chrono::seconds visibility) = 0;
  virtual Status DeleteMessage(std::string_view queue, std::string_view id,
                               std::string_view pop_receipt) = 0;
};

struct QueueClientOptions {
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds request_timeout{30'000};
  std::string api_version = "2021-12-02";  // x-ms-version
};

class QueueClient : public QueueService {
 public:
  QueueClient(StorageAccount account, QueueClientOptions opts = {});
  ~QueueClient() override;
  QueueClient(const QueueClient&) = delete;
  QueueClient& operator=(const QueueClient&) = delete;

  Status CreateQueue(std::string_view queue) override;
  Status PutMessage(std::string_view queue, std::string_view text,
                    std::chrono::seconds visibility) override;
  Result<std::vector<AzureMessage>> GetMessages(std::string_view queue, int max,
                                                std::chrono::seconds visibility) override;
  Result<std::vector<AzureMessage>> PeekMessages(std::string_view queue, int max) override;
  Result<UpdatedMessage> UpdateVisibility(std::string_view queue, std::string_view id,
                                          std::string_view pop_receipt,
                                          std::chrono::seconds visibility) override;
  Status DeleteMessage(std::string_view queue, std::string_view id,
                       std::string_view pop_receipt) override;

  const StorageAccount& account() const { return account_; }

 private:
  struct Response {
    long status = 0;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // lower-case names
    std::string Header(std::string_view name) const;
  };
  // Sends `req` (path relative to the endpoint's path), signed; Unavailable when the service
  // cannot be reached.
  Result<Response> Send(StorageRequest req);
  void* TakeHandle();
  void ReturnHandle(void* handle);

  const StorageAccount account_;
  const QueueClientOptions opts_;
  std::string base_url_;   // scheme://host[:port]
  std::string base_path_;  // the endpoint's path ("" or "/devstoreaccount1")
  Mutex mu_;
  std::vector<void*> idle_ GUARDED_BY(mu_);  // CURL* handles kept for their connections
};

// Parses a QueueMessagesList document (Get Messages, Peek Messages, Put Message).
Result<std::vector<AzureMessage>> ParseMessageList(std::string_view xml);
// The QueueMessage document Put Message sends, with `text` XML-escaped.
std::string MessageXml(std::string_view text);
// The service's error code and message from an <Error> document ("" when absent).
std::pair<std::string, std::string> ParseError(std::string_view xml);
// An RFC 1123 date ("Mon, 30 Nov 2026 08:00:00 GMT"); nullopt when malformed.
std::optional<TimePoint> ParseHttpDate(std::string_view text);
// The current time as an RFC 1123 date (x-ms-date).
std::string FormatHttpDate(TimePoint t);

}  // namespace berth
