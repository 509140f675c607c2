#include "runtime/sealed_binary.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace berth {
namespace {

// Kernels since 6.3 tell executable memfds apart (MFD_EXEC); older ones refuse the flag.
#ifndef MFD_EXEC
constexpr unsigned kMfdExec = 0x0010U;
#else
constexpr unsigned kMfdExec = MFD_EXEC;
#endif

}  // namespace

int RuntimeCopySeals() { return F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE; }

Result<UniqueFd> SealedCopy(const std::string& path) {
  UniqueFd src(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!src) return ErrnoStatus("open " + path, errno);
  struct stat st {};
  if (::fstat(src.get(), &st) != 0) return ErrnoStatus("stat " + path, errno);
  char magic[4] = {};
  if (!S_ISREG(st.st_mode) || ::pread(src.get(), magic, sizeof magic, 0) != sizeof magic ||
      std::memcmp(magic,
                  "\x7f"
                  "ELF",
                  sizeof magic) != 0) {
    return Status::FailedPrecondition(path + " is not an ELF executable");
  }
  std::string name = std::filesystem::path(path).filename().string();
  unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
  UniqueFd copy(::memfd_create(name.c_str(), flags | kMfdExec));
  if (!copy && errno == EINVAL) copy.Reset(::memfd_create(name.c_str(), flags));
  if (!copy) return ErrnoStatus("memfd_create for a copy of " + path, errno);
  off_t offset = 0;
  while (offset < st.st_size) {
    ssize_t n =
        ::sendfile(copy.get(), src.get(), &offset, static_cast<size_t>(st.st_size - offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("copy " + path + " into memory", errno);
    if (n == 0) return Status::IoError(path + " shrank while it was copied");
  }
  if (::fchmod(copy.get(), 0555) != 0) return ErrnoStatus("chmod the copy of " + path, errno);
  if (::fcntl(copy.get(), F_ADD_SEALS, RuntimeCopySeals()) != 0) {
    return ErrnoStatus("seal the copy of " + path, errno);
  }
  if (::fcntl(copy.get(), F_GET_SEALS) != RuntimeCopySeals()) {
    return Status::IoError("the copy of " + path + " carries other seals than asked for");
  }
  return copy;
}

std::string FdExecPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

}  // namespace berth
