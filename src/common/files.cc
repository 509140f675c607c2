#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace berth {
namespace {

Status WriteAll(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write " + what, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

}  // namespace

Status SyncDir(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open " + dir.string(), errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus("fsync " + dir.string(), err);
  return Status::Ok();
}

namespace {

Status WriteAndRename(const std::filesystem::path& path, std::string_view content, mode_t mode,
                      bool sync) {
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus("create " + tmp.string(), errno);
  Status st = WriteAll(fd, content, tmp.string());
  if (st.ok() && ::fchmod(fd, mode) != 0) st = ErrnoStatus("chmod " + tmp.string(), errno);
  if (st.ok() && sync && ::fsync(fd) != 0) st = ErrnoStatus("fsync " + tmp.string(), errno);
  if (::close(fd) != 0 && st.ok()) st = ErrnoStatus("close " + tmp.string(), errno);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    st = ErrnoStatus("rename " + tmp.string(), errno);
  }
  if (!st.ok()) ::unlink(tmp.c_str());
  return st;
}

}  // namespace

Status WriteFileReplace(const std::filesystem::path& path, std::string_view content, mode_t mode) {
  return WriteAndRename(path, content, mode, /*sync=*/false);
}

Status WriteFileAtomic(const std::filesystem::path& path, std::string_view content, mode_t mode) {
  RETURN_IF_ERROR(WriteAndRename(path, content, mode, /*sync=*/true));
  return SyncDir(path.has_parent_path() ? path.parent_path() : ".");
}

Result<std::string> ReadFile(const std::filesystem::path& path) {
  // Reads to EOF rather than trusting st_size, which is 0 for /proc files.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open " + path.string(), errno);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return ErrnoStatus("read " + path.string(), err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Result<FileTail> ReadFileTail(const std::filesystem::path& path, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open " + path.string(), errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus("stat " + path.string(), err);
  }
  FileTail out;
  off_t size = st.st_size;
  off_t start = 0;
  if (static_cast<uint64_t>(size) > max_bytes) {
    start = size - static_cast<off_t>(max_bytes);
    out.truncated = true;
  }
  out.data.resize(static_cast<size_t>(size - start));
  size_t got = 0;
  while (got < out.data.size()) {
    ssize_t n =
        ::pread(fd, out.data.data() + got, out.data.size() - got, start + static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return ErrnoStatus("read " + path.string(), err);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out.data.resize(got);
  ::close(fd);
  return out;
}

Status MakeDirs(const std::filesystem::path& path, mode_t mode) {
  std::error_code ec;
  std::filesystem::path cur;
  for (const auto& part : path) {
    cur /= part;
    if (cur.empty() || cur == "/") continue;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) {
      return ErrnoStatus("mkdir " + cur.string(), errno);
    }
  }
  return Status::Ok();
}

}  // namespace berth
