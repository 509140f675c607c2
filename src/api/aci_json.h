// The Container Instances (ACI) shape of a berth job: an ARM container group's JSON mapped to a
// JobSpec, and a job shown back as a container group with its instance view. Pure functions;
// the routes are in aci_api.h.
//
// A container group is one job. What ARM keeps about the group that a JobSpec has no field for
// (its resource id as first given, location, tags, the container's name and requested
// resources) travels in JobSpec::annotations under "aci.*" names. The job's idempotency key is
// the lower-cased resource id (AciGroupRef::Key): names are unique per subscription and resource
// group, in any case, as in ARM.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/arm_error.h"
#include "job/job.h"

namespace berth {

inline constexpr std::string_view kAciGroupType = "Microsoft.ContainerInstance/containerGroups";
// The annotation that marks a job as a container group (its resource id).
inline constexpr std::string_view kAciIdAnnotation = "aci.id";

// Where a container group is: /subscriptions/{subscription}/resourceGroups/{resource_group}/
// providers/Microsoft.ContainerInstance/containerGroups/{name}.
struct AciGroupRef {
  std::string subscription;
  std::string resource_group;
  std::string name;

  std::string ResourceId() const;
  // The lower-cased resource id: the job's idempotency key.
  std::string Key() const;
};

// The key prefix shared by every group of a subscription, or of one of its resource groups
// (`resource_group` non-empty).
std::string AciKeyPrefix(std::string_view subscription, std::string_view resource_group);

// Checks the parts of a group's path: a subscription of 1..64 [A-Za-z0-9-], a resource group of
// 1..90 [A-Za-z0-9._()-] not ending in '.', a name of 1..63 lower-case letters, digits and '-'
// that neither starts nor ends with '-' (ACI's rule). 400 naming the part otherwise.
std::optional<ArmError> CheckSubscription(std::string_view subscription);
std::optional<ArmError> CheckResourceGroup(std::string_view resource_group);
std::optional<ArmError> CheckGroupName(std::string_view name, std::string_view what);

// Maps a PUT body to the job spec of group `ref`. Supported: location, tags,
// properties.{containers (exactly one), osType Linux, restartPolicy Never|OnFailure, sku
// Standard, priority Regular}, and per container name and properties.{image, command,
// environmentVariables (value or secureValue), resources.requests/limits.{cpu, memoryInGB}}.
// Anything else, or what berth cannot do (restartPolicy Always, Windows, more containers,
// volumes, an IP address, ports, registry credentials, GPUs, probes, ...) is a 400 whose message
// names the field: never silently dropped. CPU and memory limits are the limits when given,
// else the requests.
std::variant<JobSpec, ArmError> ParseContainerGroup(std::string_view body, const AciGroupRef& ref,
                                                    std::string_view default_location);

// Whether `job` was made by the ACI API (it carries kAciIdAnnotation).
bool IsContainerGroup(const JobRecord& job);

// The container group's name and its container's name, as stored with the job.
std::string GroupName(const JobRecord& job);
std::string ContainerName(const JobRecord& job);

// provisioningState: Pending (queued), Creating (being started), Succeeded (it ran, or runs),
// Failed (it ended without ever running: a failed start, a missing image).
std::string ProvisioningState(const JobRecord& job);

// The group's instanceView.state: Pending, Running, Succeeded, Failed, or Stopped (canceled).
std::string GroupState(const JobRecord& job);

// The container group `job` as ARM JSON: id, name, type, location, tags and properties
// (provisioningState, osType, restartPolicy, sku, containers with their instanceView
// {restartCount, currentState, previousState, events}, instanceView {state, events}). Secure
// environment variables show their names only. Every `hidden_paths` entry in a reason is shown
// as "<data>".
nlohmann::json ContainerGroupToJson(const JobRecord& job,
                                    const std::vector<std::string>& hidden_paths = {});

// The status of the create operation of `job`: {"status": "InProgress"|"Succeeded"|"Failed",
// "error"?: {"code", "message"}}; Succeeded once its container ran (or runs).
nlohmann::json OperationStatusJson(const JobRecord& job,
                                   const std::vector<std::string>& hidden_paths = {});

// Whether two specs ask for the same group (everything but the resource id's case compared).
bool SameGroupSpec(const JobSpec& a, const JobSpec& b);

}  // namespace berth
