// What garbage collection of images must keep besides tagged images: the layers of jobs that
// may still be running on this node.
//
// A job's bundle names its layers in <jobs>/<id>/lower ("top:...:bottom"); a job without
// <jobs>/<id>/exit.json has not ended (or never started), so its layers stay. Reads files only;
// safe to call from any thread.
#pragma once

#include <filesystem>
#include <vector>

namespace berth {

// The layer directories named by the lower file of every job under `jobs_root` that has no
// exit.json yet. An absent `jobs_root` has none.
std::vector<std::filesystem::path> LayersInUseByJobs(const std::filesystem::path& jobs_root);

}  // namespace berth
