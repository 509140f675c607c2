// berth-shim-wait: what a job's monitor becomes while its job runs quietly.
//
// A running job's monitor (berth-shim) mostly waits: for output, a signal, the job's exit or an
// OOM kill. Waiting in berth-shim costs every running job that program's private memory (its C
// and C++ runtimes' data, heap and stack, ~80 KiB) and page tables (~44 KiB). When the job has
// been quiet for a while, the monitor execs this program instead: the same process (pid, start
// time, fds, blocked signals, subreaper), no libc, a few KiB. It watches the monitor's signalfd
// and the job's output pipe (fds kSignalFd and kOutputFd of shim/wait_fds.h) and, when the OOM
// counter file is given, reads it every 100 ms. On any of them (output or end of the output,
// a signal, an OOM kill, an error) it execs berth-shim again, which handles the event the way it
// always does: nothing is read or consumed here.
//
// argv: berth-shim-wait OOM_FILE|"" SHIM_PATH SHIM_ARGV0 SHIM_ARGS...
#if !defined(__x86_64__)
#error "berth-shim-wait is x86-64 code (raw syscalls, its own _start): built only there"
#endif

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <time.h>

#include "shim/wait_fds.h"

namespace {

long Sys(long n, long a = 0, long b = 0, long c = 0, long d = 0) {
  long r;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                   : "rcx", "r11", "memory");
  return r;
}

// The "oom_kill N" count of a cgroup's OOM counters (v1 memory.oom_control, v2 memory.events).
long OomKills(const char* path) {
  static char buf[512];
  long fd = Sys(SYS_openat, AT_FDCWD, reinterpret_cast<long>(path), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  long n = Sys(SYS_read, fd, reinterpret_cast<long>(buf), sizeof buf - 1);
  Sys(SYS_close, fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char key[] = "oom_kill ";
  for (long i = 0; i < n; ++i) {
    if (i > 0 && buf[i - 1] != '\n') continue;
    long k = 0;
    while (key[k] != 0 && buf[i + k] == key[k]) ++k;
    if (key[k] != 0) continue;
    long v = 0;
    for (long j = i + k; buf[j] >= '0' && buf[j] <= '9'; ++j) v = v * 10 + (buf[j] - '0');
    return v;
  }
  return 0;
}

}  // namespace

extern "C" [[noreturn]] void WaitMain(long* sp) {
  long argc = sp[0];
  char** argv = reinterpret_cast<char**>(sp + 1);
  char** envp = argv + argc + 1;
  if (argc < 4) Sys(SYS_exit_group, 2);
  const char* oom = argv[1][0] != 0 ? argv[1] : nullptr;
  for (;;) {
    struct pollfd fds[2] = {{berth::kSignalFd, POLLIN, 0}, {berth::kOutputFd, POLLIN, 0}};
    struct timespec every = {0, 100 * 1000 * 1000};
    long r = Sys(SYS_ppoll, reinterpret_cast<long>(fds), 2,
                 oom != nullptr ? reinterpret_cast<long>(&every) : 0, 0);
    if (r > 0 || (r < 0 && r != -4 /* EINTR */)) break;
    if (oom != nullptr && OomKills(oom) > 0) break;
  }
  // Back to berth-shim, which takes the event from here. Should that exec fail (a moment's
  // resource shortage), try again for a while: the job's end is recorded only by berth-shim.
  for (int attempt = 0; attempt < 100; ++attempt) {
    Sys(SYS_execve, reinterpret_cast<long>(argv[2]), reinterpret_cast<long>(argv + 3),
        reinterpret_cast<long>(envp));
    struct timespec pause = {0, 100 * 1000 * 1000};
    Sys(SYS_nanosleep, reinterpret_cast<long>(&pause), 0);
  }
  Sys(SYS_exit_group, 1);
  __builtin_unreachable();
}

// The entry point: the kernel's initial stack (argc, argv, envp) to WaitMain, 16-byte aligned.
__asm__(
    ".text\n"
    ".global _start\n"
    "_start:\n"
    "  xor %rbp, %rbp\n"
    "  mov %rsp, %rdi\n"
    "  and $-16, %rsp\n"
    "  call WaitMain\n"
    "  hlt\n");
