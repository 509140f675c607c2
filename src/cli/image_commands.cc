#include "cli/image_commands.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>

#include "cli/image_progress.h"
#include "daemon/settings.h"
#include "images/image_gc.h"
#include "images/image_puller.h"
#include "images/image_reference.h"
#include "images/image_store.h"

namespace berth {
namespace {

// What every image command shares: the data dir the daemon uses, and its settings.
struct ImageCommandOptions {
  std::string data_dir = ".berth";
  std::string settings_file;  // registry settings (DefaultRegistry, ...); env overrides apply
  bool force = false;         // rm: remove even the image the default job runs
};

int Fail(const Status& st) {
  fprintf(stderr, "berth: %s\n", st.message().c_str());
  return 1;
}

std::filesystem::path ImagesRoot(const ImageCommandOptions& o) {
  return std::filesystem::path(o.data_dir) / "images";
}

// The image commands work on a data dir the server made (or an image store an earlier command
// made), never on a new one: a command run from the wrong directory would otherwise fill a
// store the server never reads.
Status CheckDataDir(const ImageCommandOptions& o) {
  std::filesystem::path dir(o.data_dir);
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return Status::NotFound("no data dir at " + o.data_dir +
                            ": pass the --data-dir the server uses ('berth serve' makes it; "
                            "./.berth when started without --data-dir)");
  }
  if (!std::filesystem::exists(dir / "berth.db", ec) &&
      !std::filesystem::is_directory(dir / "images", ec)) {
    return Status::FailedPrecondition(o.data_dir +
                                      " holds no berth data (no berth.db, no images/): pass the "
                                      "--data-dir the server uses");
  }
  return Status::Ok();
}

Result<Settings> LoadCommandSettings(const ImageCommandOptions& o) {
  std::optional<std::filesystem::path> file;
  if (!o.settings_file.empty()) file = o.settings_file;
  return LoadSettings(file, [](const char* n) { return std::getenv(n); });
}

Result<RegistryOptions> LoadRegistryOptions(const ImageCommandOptions& o) {
  ASSIGN_OR_RETURN(Settings s, LoadCommandSettings(o));
  return s.Registries();
}

// One spelling of a reference ("busybox" = "docker.io/library/busybox:latest").
std::string Canonical(const std::string& reference) {
  Result<ImageReference> ref = ParseImageReference(reference);
  return ref.ok() ? ref->ToString() : reference;
}

int PullCommand(const ImageCommandOptions& o, const std::string& reference) {
  Result<RegistryOptions> registry = LoadRegistryOptions(o);
  if (!registry.ok()) return Fail(registry.status());
  ImageStore store(ImagesRoot(o));
  ImagePuller puller(store, *registry);
  PullProgressDisplay display(stdout, ::isatty(STDOUT_FILENO) == 1);
  Result<Image> image =
      puller.Pull(reference, [&display](const PullEvent& e) { display.Update(e); });
  display.Finish();
  if (!image.ok()) return Fail(image.status());
  printf("%s %s (%s)\n", image->reference.c_str(), image->manifest_digest.c_str(),
         HumanBytes(static_cast<double>(image->size_bytes)).c_str());
  return 0;
}

int ImportCommand(const ImageCommandOptions& o, const std::string& path,
                  const std::string& reference) {
  ImageStore store(ImagesRoot(o));
  Result<Image> image = store.Import(path, reference);
  if (!image.ok()) return Fail(image.status());
  printf("%s %s\n", image->reference.c_str(), image->manifest_digest.c_str());
  return 0;
}

int ListCommand(const ImageCommandOptions& o) {
  ImageStore store(ImagesRoot(o));
  Result<std::vector<Image>> images = store.List();
  if (!images.ok()) return Fail(images.status());
  printf("%-60s %-19s %10s\n", "REFERENCE", "DIGEST", "SIZE");
  for (const Image& i : *images) {
    printf(
        "%-60s %-19s %10s\n", i.reference.c_str(), i.manifest_digest.substr(0, 19).c_str(),
        i.layer_dirs.empty() ? "damaged" : HumanBytes(static_cast<double>(i.size_bytes)).c_str());
  }
  return 0;
}

int PruneCommand(const ImageCommandOptions& o) {
  ImageStore store(ImagesRoot(o));
  Result<PruneReport> report =
      store.Prune(LayersInUseByJobs(std::filesystem::path(o.data_dir) / "jobs"));
  if (!report.ok()) return Fail(report.status());
  printf("removed %d layers and %d blobs, freed %s\n", report->layers_removed,
         report->blobs_removed, HumanBytes(static_cast<double>(report->bytes_freed)).c_str());
  return 0;
}

int RemoveCommand(const ImageCommandOptions& o, const std::vector<std::string>& references) {
  if (!o.force) {
    Result<Settings> settings = LoadCommandSettings(o);
    if (!settings.ok()) return Fail(settings.status());
    for (const std::string& reference : references) {
      if (Canonical(reference) == Canonical(settings->default_job_image)) {
        fprintf(stderr,
                "berth: %s is the image the default job runs (DefaultJobImage): an empty POST "
                "would fail without it; pass --force to remove it anyway\n",
                reference.c_str());
        return 1;
      }
    }
  }
  ImageStore store(ImagesRoot(o));
  int rc = 0;
  for (const std::string& reference : references) {
    if (Status st = store.Remove(reference); !st.ok()) {
      rc = Fail(st);
      continue;
    }
    printf("untagged %s\n", reference.c_str());
  }
  // Layers no image needs any more go too, except those running jobs use.
  return PruneCommand(o) != 0 ? 1 : rc;
}

// `run` after checking the data dir.
std::function<int()> Checked(std::shared_ptr<ImageCommandOptions> o, std::function<int()> run) {
  return [o, run = std::move(run)] {
    if (Status st = CheckDataDir(*o); !st.ok()) return Fail(st);
    return run();
  };
}

}  // namespace

void AddImageCommands(CLI::App& app, std::function<int()>& chosen) {
  auto opts = std::make_shared<ImageCommandOptions>();
  auto* image = app.add_subcommand("image", "Pull, import, list and remove images");
  image->require_subcommand(1);
  auto add_common = [opts](CLI::App* cmd) {
    cmd->add_option("--data-dir", opts->data_dir, "Data dir whose image store to use")
        ->capture_default_str();
  };
  auto args = std::make_shared<std::vector<std::string>>();
  auto reference = std::make_shared<std::string>();

  auto* pull = image->add_subcommand("pull", "Pull an image from its registry");
  add_common(pull);
  pull->add_option("--settings", opts->settings_file,
                   "Settings file for DefaultRegistry, RegistryMirrors, InsecureRegistries, "
                   "RegistryAuthFile (environment variables override)");
  pull->add_option("reference", *reference, "Image reference, e.g. alpine:3.19")->required();
  pull->callback([&chosen, opts, reference] {
    chosen = Checked(opts, [opts, reference] { return PullCommand(*opts, *reference); });
  });

  auto path = std::make_shared<std::string>();
  auto* import_cmd = image->add_subcommand(
      "import", "Import an OCI layout directory, a docker-save tarball or an OCI archive");
  add_common(import_cmd);
  import_cmd->add_option("path", *path, "Directory or tarball")->required();
  import_cmd->add_option("reference", *reference, "Tag it as (default: the name it carries)");
  import_cmd->callback([&chosen, opts, path, reference] {
    chosen =
        Checked(opts, [opts, path, reference] { return ImportCommand(*opts, *path, *reference); });
  });

  auto* ls = image->add_subcommand("ls", "List images");
  add_common(ls);
  ls->callback([&chosen, opts] { chosen = Checked(opts, [opts] { return ListCommand(*opts); }); });

  auto* rm = image->add_subcommand("rm", "Untag images and free what nothing else uses");
  add_common(rm);
  rm->add_option("reference", *args, "Image references")->required();
  rm->add_option("--settings", opts->settings_file,
                 "Settings file naming DefaultJobImage (environment variables override)");
  rm->add_flag("--force", opts->force, "Remove even the image the default job runs");
  rm->callback([&chosen, opts, args] {
    chosen = Checked(opts, [opts, args] { return RemoveCommand(*opts, *args); });
  });

  auto* prune = image->add_subcommand(
      "prune", "Remove layers and blobs no image references (keeps those of running jobs)");
  add_common(prune);
  prune->callback(
      [&chosen, opts] { chosen = Checked(opts, [opts] { return PruneCommand(*opts); }); });
}

}  // namespace berth
