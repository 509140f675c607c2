#include "images/layer_unpacker.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "common/unique_fd.h"

namespace berth {
namespace {

constexpr int kExtractFlags = ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                              ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_PERM |
                              ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR;
constexpr size_t kReadBlockSize = 1 << 16;
constexpr int64_t kEntryOverhead = 512;  // what an entry costs the budget besides its data
constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
constexpr char kOpaqueXattr[] = "trusted.overlay.opaque";

struct ReadArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteArchiveFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
using ReadArchive = std::unique_ptr<archive, ReadArchiveFree>;
using WriteArchive = std::unique_ptr<archive, WriteArchiveFree>;

Status EntryError(std::string_view path, std::string_view what) {
  return Status::InvalidArgument("layer entry \"" + std::string(path) + "\": " + std::string(what));
}

Status ArchiveError(archive* a, std::string_view path, std::string_view action) {
  const char* msg = archive_error_string(a);
  return EntryError(path, std::string(action) + ": " + (msg != nullptr ? msg : "unknown error"));
}

// An entry path cleaned like containerd and podman do (Go's filepath.Clean, then joined to
// the root): "." and empty components dropped, ".." taken back. A rooted path ("/usr/bin",
// umoci's "/") cannot climb above the root, as in filepath.Clean("/../x") == "/x"; a relative
// one that climbs above it ("../x", "a/../../x") escapes the layer and is refused. Empty parts
// mean the root itself.
Result<std::vector<std::string>> CleanEntryPath(std::string_view path) {
  const bool rooted = !path.empty() && path.front() == '/';
  std::vector<std::string> parts;
  std::string_view rest = path;
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) {
        parts.pop_back();
      } else if (!rooted) {
        return EntryError(path, "path escapes the layer root (\"..\")");
      }
      continue;
    }
    parts.emplace_back(part);
  }
  return parts;
}

std::string JoinParts(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out += '/';
    out += p;
  }
  return out;
}

// Opens the directory `parts[0..count)` below `root`, creating missing ones (0755), never
// following a symlink.
Result<UniqueFd> OpenDirBeneath(int root, const std::vector<std::string>& parts, size_t count) {
  UniqueFd dir(::dup(root));
  if (dir.get() < 0) return ErrnoStatus("dup", errno);
  for (size_t i = 0; i < count; ++i) {
    const char* name = parts[i].c_str();
    if (::mkdirat(dir.get(), name, 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus("mkdir " + parts[i], errno);
    }
    int fd = ::openat(dir.get(), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      return Status::InvalidArgument("layer path component \"" + parts[i] +
                                     "\" is not a directory (or is a symlink)");
    }
    dir = UniqueFd(fd);
  }
  return dir;
}

// Turns an OCI whiteout entry (last component starts with ".wh.") into its overlayfs form.
Status ApplyWhiteout(int root, std::string_view path, const std::vector<std::string>& parts) {
  const std::string& base = parts.back();
  ASSIGN_OR_RETURN(UniqueFd dir, OpenDirBeneath(root, parts, parts.size() - 1));
  if (base == kOpaqueMarker) {
    if (::fsetxattr(dir.get(), kOpaqueXattr, "y", 1, 0) != 0) {
      return ErrnoStatus("set " + std::string(kOpaqueXattr) + " for " + std::string(path), errno);
    }
    return Status::Ok();
  }
  if (base.substr(0, 2 * kWhiteoutPrefix.size()) == ".wh..wh.") {
    return Status::Ok();  // other AUFS bookkeeping (.wh..wh.plnk, ...): nothing to do
  }
  std::string name = base.substr(kWhiteoutPrefix.size());
  if (name.empty() || name == "." || name == "..") return EntryError(path, "bad whiteout name");
  if (::mknodat(dir.get(), name.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) {
    // The same layer also has `name`: it already hides the lower layers' version.
    if (errno == EEXIST) return Status::Ok();
    return ErrnoStatus("mknod whiteout for " + std::string(path), errno);
  }
  return Status::Ok();
}

// Drops every xattr except user.* (not user.overlay.*) and security.capability: trusted.* and
// the rest could forge overlayfs metadata or security labels.
void KeepSafeXattrs(archive_entry* entry) {
  if (archive_entry_xattr_count(entry) == 0) return;
  std::vector<std::pair<std::string, std::string>> keep;
  archive_entry_xattr_reset(entry);
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
    std::string_view n(name);
    bool user = n.substr(0, 5) == "user." && n.substr(0, 13) != "user.overlay.";
    if (user || n == "security.capability") {
      keep.emplace_back(n, std::string(static_cast<const char*>(value), size));
    }
  }
  archive_entry_xattr_clear(entry);
  for (const auto& [n, v] : keep)
    archive_entry_xattr_add_entry(entry, n.c_str(), v.data(), v.size());
}

// Copies the current entry's data. True when the archive ended right after the entry's last
// data byte, without the padding to 512 bytes and the end-of-archive blocks: umoci 0.4.7's
// `insert` writes layers so, and podman (Go's tar reader) takes them; so do we, as the entry is
// complete (and the layer's digest was checked).
Result<bool> CopyEntryData(archive* in, archive* out, std::string_view path, int64_t entry_size,
                           UnpackBudget* budget) {
  const void* buf = nullptr;
  size_t size = 0;
  la_int64_t offset = 0;
  int64_t end = 0;  // how far the data delivered so far reaches
  while (true) {
    int r = archive_read_data_block(in, &buf, &size, &offset);
    if (r == ARCHIVE_EOF) return false;
    if (r < ARCHIVE_WARN) {
      if (end >= entry_size) return true;  // only the padding after the data is missing
      return ArchiveError(in, path, "read");
    }
    if (budget != nullptr && !budget->Take(static_cast<int64_t>(size))) return budget->Exceeded();
    if (archive_write_data_block(out, buf, size, offset) < ARCHIVE_WARN) {
      return ArchiveError(out, path, "write");
    }
    end = std::max<int64_t>(end, offset + static_cast<int64_t>(size));
  }
}

// Extracts one entry (after cleaning its paths) or applies it as a whiteout. The layer root
// itself ("/", "./") is skipped, as containerd and podman do: the layer directory is the root.
// True when the archive ended right after this entry's data (see CopyEntryData).
Result<bool> ExtractEntry(archive* in, archive* out, archive_entry* entry, int root,
                          UnpackBudget* budget) {
  const char* raw = archive_entry_pathname(entry);
  std::string path = raw != nullptr ? raw : "";
  ASSIGN_OR_RETURN(std::vector<std::string> parts, CleanEntryPath(path));
  if (parts.empty()) return false;
  archive_entry_copy_pathname(entry, JoinParts(parts).c_str());
  if (const char* link = archive_entry_hardlink(entry); link != nullptr) {
    ASSIGN_OR_RETURN(std::vector<std::string> target, CleanEntryPath(link));
    if (target.empty()) return EntryError(path, "hard link to the layer root");
    archive_entry_copy_hardlink(entry, JoinParts(target).c_str());
  }
  if (budget != nullptr && !budget->Take(kEntryOverhead)) return budget->Exceeded();
  if (parts.back().substr(0, kWhiteoutPrefix.size()) == kWhiteoutPrefix) {
    RETURN_IF_ERROR(ApplyWhiteout(root, path, parts));
    return false;
  }
  mode_t type = archive_entry_filetype(entry);
  if (type == AE_IFCHR || type == AE_IFBLK) return false;  // device nodes: refused
  KeepSafeXattrs(entry);
  if (archive_write_header(out, entry) < ARCHIVE_WARN) return ArchiveError(out, path, "extract");
  bool ended = false;
  if (const int64_t size = archive_entry_size(entry); size > 0) {
    ASSIGN_OR_RETURN(ended, CopyEntryData(in, out, path, size, budget));
  }
  if (archive_write_finish_entry(out) < ARCHIVE_WARN) return ArchiveError(out, path, "finish");
  return ended;
}

// Extracts every entry of `archive_path` into the current directory, which is `root`.
Status ExtractAll(const std::filesystem::path& archive_path, int root, UnpackBudget* budget) {
  ReadArchive in(archive_read_new());
  WriteArchive out(archive_write_disk_new());
  if (!in || !out) return Status::ResourceExhausted("libarchive: out of memory");
  // Only what OCI layers use. Not archive_read_support_filter_all: some of its decompressors
  // (lrzip, lzop, grzip, ...) run external programs.
  archive_read_support_filter_gzip(in.get());
  archive_read_support_filter_zstd(in.get());
  archive_read_support_format_tar(in.get());
  archive_read_support_format_empty(in.get());
  archive_write_disk_set_options(out.get(), kExtractFlags);
  // Messages name the layer by its file name (a blob digest), not by its host path.
  const std::string name = archive_path.filename().string();
  if (archive_read_open_filename(in.get(), archive_path.c_str(), kReadBlockSize) != ARCHIVE_OK) {
    return Status::InvalidArgument("layer " + name + ": " + archive_error_string(in.get()));
  }
  while (true) {
    archive_entry* entry = nullptr;
    int r = archive_read_next_header(in.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      return Status::InvalidArgument("layer " + name + ": " + archive_error_string(in.get()));
    }
    Result<bool> ended = ExtractEntry(in.get(), out.get(), entry, root, budget);
    if (!ended.ok()) return ended.status().WithContext("layer " + name);
    if (*ended) break;  // nothing can be read after a truncated tail
  }
  // Closing applies the deferred directory permissions and timestamps.
  if (archive_write_close(out.get()) < ARCHIVE_WARN) {
    return Status::IoError("layer " + name + ": " + archive_error_string(out.get()));
  }
  return Status::Ok();
}

// Runs on its own thread: gives the thread a private cwd and umask, enters `dest`, extracts.
Status UnpackWithPrivateCwd(const std::filesystem::path& archive_path,
                            const std::filesystem::path& dest, UnpackBudget* budget) {
  if (::unshare(CLONE_FS) != 0) return ErrnoStatus("unshare(CLONE_FS) for layer unpacking", errno);
  UniqueFd root(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (root.get() < 0) return ErrnoStatus("open " + dest.string(), errno);
  if (::fchdir(root.get()) != 0) return ErrnoStatus("chdir " + dest.string(), errno);
  ::umask(0);
  return ExtractAll(archive_path, root.get(), budget);
}

}  // namespace

Status UnpackBudget::Exceeded() const {
  return Status::FailedPrecondition("the image is larger than " + std::to_string(max_bytes_) +
                                    " bytes unpacked (ImagePullMaxBytes)");
}

Status UnpackLayer(const std::filesystem::path& archive, const std::filesystem::path& dest,
                   UnpackBudget* budget) {
  std::error_code ec;
  std::filesystem::path abs_archive = std::filesystem::absolute(archive, ec);
  if (ec) return ErrnoStatus("resolve " + archive.string(), ec.value());
  std::filesystem::path abs_dest = std::filesystem::absolute(dest, ec);
  if (ec) return ErrnoStatus("resolve " + dest.string(), ec.value());
  Status result;
  try {
    std::thread worker([&] { result = UnpackWithPrivateCwd(abs_archive, abs_dest, budget); });
    worker.join();
  } catch (const std::system_error& e) {
    return Status::ResourceExhausted(std::string("cannot start layer unpacking thread: ") +
                                     e.what());
  }
  return result;
}

}  // namespace berth
