#include "job/schedule.h"

#include <nlohmann/json.hpp>

namespace berth {
namespace {

using json = nlohmann::json;

Status FieldError(std::string_view field, std::string_view what) {
  return Status::InvalidArgument("field '" + std::string(field) + "': " + std::string(what));
}

}  // namespace

std::string_view ToString(ConcurrencyPolicy p) {
  switch (p) {
    case ConcurrencyPolicy::kForbid:
      return "Forbid";
    case ConcurrencyPolicy::kReplace:
      return "Replace";
    case ConcurrencyPolicy::kAllow:
      break;
  }
  return "Allow";
}

Status ValidateScheduleName(std::string_view name) {
  if (name.empty() || name.size() > 63) return FieldError("name", "must be 1 to 63 characters");
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) {
      return FieldError("name",
                        "must be letters, digits, '.', '_' or '-', starting with a "
                        "letter or digit");
    }
  }
  return Status::Ok();
}

Result<ScheduleSpec> ParseScheduleSpec(std::string_view text) {
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("malformed JSON: ") + e.what());
  }
  if (!doc.is_object()) return Status::InvalidArgument("the schedule must be a JSON object");
  ScheduleSpec spec;
  bool has_job = false;
  for (const auto& [key, v] : doc.items()) {
    if (key == "name") {
      if (!v.is_string()) return FieldError(key, "must be a string");
      spec.name = v.get<std::string>();
      RETURN_IF_ERROR(ValidateScheduleName(spec.name));
    } else if (key == "schedule") {
      if (!v.is_string() || v.get_ref<const std::string&>().empty()) {
        return FieldError(key, "must be a non-empty string (a cron expression)");
      }
      if (v.get_ref<const std::string&>().size() > 256) return FieldError(key, "is too long");
      spec.schedule = v.get<std::string>();
    } else if (key == "timeZone") {
      if (!v.is_string() || v.get_ref<const std::string&>().empty() ||
          v.get_ref<const std::string&>().size() > 64) {
        return FieldError(key, "must be an IANA time zone name such as \"Europe/Berlin\"");
      }
      spec.time_zone = v.get<std::string>();
    } else if (key == "concurrencyPolicy") {
      if (v == "Allow") {
        spec.concurrency_policy = ConcurrencyPolicy::kAllow;
      } else if (v == "Forbid") {
        spec.concurrency_policy = ConcurrencyPolicy::kForbid;
      } else if (v == "Replace") {
        spec.concurrency_policy = ConcurrencyPolicy::kReplace;
      } else {
        return FieldError(key, "must be \"Allow\", \"Forbid\" or \"Replace\"");
      }
    } else if (key == "enabled") {
      if (!v.is_boolean()) return FieldError(key, "must be true or false");
      spec.enabled = v.get<bool>();
    } else if (key == "catchUp") {
      if (!v.is_boolean()) return FieldError(key, "must be true or false");
      spec.catch_up = v.get<bool>();
    } else if (key == "startingDeadlineSeconds") {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 86400) {
        return FieldError(key, "must be a whole number from 0 to 86400");
      }
      spec.starting_deadline_seconds = v.get<int>();
    } else if (key == "job") {
      if (!v.is_object()) return FieldError(key, "must be a job spec object");
      Result<JobSpec> job = ParseJobSpec(v.dump());
      if (!job.ok()) {
        // "field 'image': ..." becomes "field 'job.image': ...".
        std::string msg = job.status().message();
        if (msg.rfind("field '", 0) == 0) msg.insert(7, "job.");
        return Status::InvalidArgument(msg);
      }
      spec.job = std::move(job).value();
      has_job = true;
    } else {
      return FieldError(key, "unknown field");
    }
  }
  if (spec.name.empty()) return FieldError("name", "is required");
  if (spec.schedule.empty()) return FieldError("schedule", "is required");
  if (!has_job) return FieldError("job", "is required");
  return spec;
}

std::string ScheduleSpecToJson(const ScheduleSpec& spec, bool include_secrets) {
  json j;
  j["name"] = spec.name;
  j["schedule"] = spec.schedule;
  j["timeZone"] = spec.time_zone;
  j["concurrencyPolicy"] = ToString(spec.concurrency_policy);
  j["enabled"] = spec.enabled;
  j["catchUp"] = spec.catch_up;
  j["startingDeadlineSeconds"] = spec.starting_deadline_seconds;
  j["job"] = json::parse(JobSpecToJson(spec.job, include_secrets));
  return j.dump();
}

}  // namespace berth
