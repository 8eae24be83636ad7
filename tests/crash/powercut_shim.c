// powercut_shim.c — an LD_PRELOAD library that lets the crash harness simulate
// a power cut: it keeps, for every file under one directory, the content it
// would have after a power cut, and a journal of namespace operations from
// which the parent (powercut_model.h) rebuilds what a power cut would leave.
//
// Loaded into the crash child only. Inactive (pure pass-through) unless
// XFERQ_POWERCUT_DIR names an absolute directory. State goes to
// XFERQ_POWERCUT_STATE (default <dir>/.powercut), which the shim never tracks:
//   <state>/log        one line per event, appended with write(2)
//   <state>/img-<id>   the durable image of file <id>: its content as of its
//                      last fsync/fdatasync (or, for a file that existed when
//                      this process started, as it was then)
// SIGKILL loses nothing of these (the kernel has them); the parent reads them
// after it killed the child, and deletes the state directory once it has
// restored the files (everything on disk is then durable again).
//
// The durability model (docs in powercut_model.h):
// - a file's content is durable as of its last fsync() or fdatasync() (on any
//   descriptor of the file); sync_file_range() does not count; O_SYNC/O_DSYNC
//   descriptors sync after every write;
// - a directory entry (create, rename, unlink) is durable once its directory
//   is fsync'd, and a new file's own name also once the file itself is
//   fsync'd (as ext4 does for a newly created inode); nothing else makes a
//   namespace change durable.
//
// Log lines (paths absolute and normalized, always the last field):
//   N <id> <path>   first touch of a file that existed before: its image holds
//                   its content from before this process changed it
//   C <id> <path>   <path> is about to be created (a new file, id <id>)
//   R <from> \t <to> a rename is about to happen
//   U <path>        an unlink is about to happen
//   Z               the preceding C, R or U failed: forget it
//   S <id>          file <id> was synced: its image now holds its content
//   D <path>        directory <path> was synced
//   X <text>        something the model does not cover happened (the parent
//                   fails the run)
// Every line is written under one mutex, so the order is the order of events.
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

// ---- Raw system calls: the shim's own I/O never goes through the wrappers ----

static int sys_open(const char* path, int flags, mode_t mode) {
  return (int)syscall(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC, mode);
}
static int sys_close(int fd) { return (int)syscall(SYS_close, fd); }
static ssize_t sys_pread(int fd, void* buf, size_t n, off_t off) { return syscall(SYS_pread64, fd, buf, n, off); }
static ssize_t sys_pwrite(int fd, const void* buf, size_t n, off_t off) {
  return syscall(SYS_pwrite64, fd, buf, n, off);
}
static ssize_t sys_write(int fd, const void* buf, size_t n) { return syscall(SYS_write, fd, buf, n); }
static int sys_fstat(int fd, struct stat* st) { return (int)syscall(SYS_fstat, fd, st); }
static int sys_lstat(const char* path, struct stat* st) {
  return (int)syscall(SYS_newfstatat, AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}
static int sys_ftruncate(int fd, off_t len) { return (int)syscall(SYS_ftruncate, fd, len); }
static off_t sys_lseek(int fd, off_t off, int whence) { return (off_t)syscall(SYS_lseek, fd, off, whence); }
static ssize_t sys_readlink(const char* path, char* buf, size_t n) {
  return syscall(SYS_readlinkat, AT_FDCWD, path, buf, n);
}
static int sys_fcntl_getfl(int fd) { return (int)syscall(SYS_fcntl, fd, F_GETFL, 0); }

// ---- State ----------------------------------------------------------------

enum { kMaxRecs = 1 << 16 };
static const int64_t kToEnd = INT64_MAX;

typedef struct {
  dev_t dev;
  ino_t ino;
  long long id;
  int has_image;  // <state>/img-<id> holds the durable content
  int dirty;      // [lo, hi) changed since the image was taken
  int64_t lo, hi;
} Rec;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_on;
static char g_dir[PATH_MAX - 128];
static size_t g_dir_len;
static char g_state[PATH_MAX - 64];
static size_t g_state_len;
static int g_log = -1;
static long long g_next_id;
static Rec* g_recs;
static int g_nrecs;
static char g_buf[256 * 1024];  // copy buffer, used under g_mu

static void resolve_all(void);

// The value of `name` in the environment the process started with. Read from
// /proc/self/environ: the shim may first run inside a sanitizer's early
// initialization, before getenv() works.
static int start_env(const char* name, char* out, size_t cap) {
  static char buf[256 * 1024];
  const int fd = sys_open("/proc/self/environ", O_RDONLY, 0);
  if (fd < 0) return -1;
  size_t len = 0;
  for (;;) {
    const ssize_t n = syscall(SYS_read, fd, buf + len, sizeof buf - 1 - len);
    if (n <= 0) break;
    len += (size_t)n;
    if (len >= sizeof buf - 1) break;
  }
  sys_close(fd);
  buf[len] = 0;
  const size_t nl = strlen(name);
  for (size_t i = 0; i < len;) {
    const char* e = buf + i;
    const size_t el = strlen(e);
    if (el > nl && strncmp(e, name, nl) == 0 && e[nl] == '=') {
      if (el - nl - 1 >= cap) return -1;
      memcpy(out, e + nl + 1, el - nl);
      return 0;
    }
    i += el + 1;
  }
  return -1;
}

static void init(void) {
  // Every real function is looked up now, outside the shim's lock: dlsym
  // takes the loader's lock, which must never be taken while holding ours.
  resolve_all();
  if (start_env("XFERQ_POWERCUT_DIR", g_dir, sizeof g_dir) != 0 || g_dir[0] != '/') return;
  g_dir_len = strlen(g_dir);
  while (g_dir_len > 1 && g_dir[g_dir_len - 1] == '/') g_dir[--g_dir_len] = 0;
  if (start_env("XFERQ_POWERCUT_STATE", g_state, sizeof g_state) != 0 || g_state[0] != '/') {
    if (g_dir_len + 11 >= sizeof g_state) return;
    snprintf(g_state, sizeof g_state, "%s/.powercut", g_dir);
  }
  g_state_len = strlen(g_state);
  syscall(SYS_mkdirat, AT_FDCWD, g_state, 0700);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/log", g_state);
  g_log = sys_open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (g_log < 0) return;
  // Not calloc: the shim may run before the allocator (a sanitizer's) is ready.
  g_recs = (Rec*)syscall(SYS_mmap, NULL, (size_t)kMaxRecs * sizeof(Rec), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (g_recs == MAP_FAILED) return;
  g_next_id = (long long)getpid() * 1000000LL;
  g_on = 1;
}

static int on(void) {
  pthread_once(&g_once, init);
  return g_on;
}

static void logline(const char* fmt, ...) {
  char line[3 * PATH_MAX];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  sys_write(g_log, line, (size_t)n);
}

// ---- Paths ----------------------------------------------------------------

// Lexically normalizes `in` (absolute) into `out`: no "//", "." or "..".
static void normalize(const char* in, char* out) {
  size_t o = 0;
  out[o++] = '/';
  const char* p = in;
  while (*p) {
    while (*p == '/') ++p;
    if (!*p) break;
    const char* e = p;
    while (*e && *e != '/') ++e;
    size_t len = (size_t)(e - p);
    if (len == 1 && p[0] == '.') {
    } else if (len == 2 && p[0] == '.' && p[1] == '.') {
      if (o > 1) {
        --o;  // the slash after the last component
        while (o > 1 && out[o - 1] != '/') --o;
      }
    } else if (o + len + 2 < PATH_MAX) {
      if (o > 1) out[o++] = '/';
      memcpy(out + o, p, len);
      o += len;
    }
    p = e;
  }
  if (o > 1 && out[o - 1] == '/') --o;
  out[o] = 0;
}

static int fd_path(int fd, char* out) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = sys_readlink(link, out, PATH_MAX - 1);
  if (n <= 0) return -1;
  out[n] = 0;
  return out[0] == '/' ? 0 : -1;
}

// The absolute, normalized form of `path` relative to `dirfd`.
static int abs_path(int dirfd, const char* path, char* out) {
  if (!path) return -1;
  char tmp[2 * PATH_MAX];
  if (path[0] == '/') {
    if (strlen(path) >= PATH_MAX) return -1;
    normalize(path, out);
    return 0;
  }
  char base[PATH_MAX];
  if (dirfd == AT_FDCWD) {
    if (syscall(SYS_getcwd, base, sizeof base) <= 0) return -1;
  } else if (fd_path(dirfd, base) != 0) {
    return -1;
  }
  snprintf(tmp, sizeof tmp, "%s/%s", base, path);
  if (strlen(tmp) >= PATH_MAX) return -1;
  normalize(tmp, out);
  return 0;
}

static int under(const char* path, const char* dir, size_t len) {
  return strncmp(path, dir, len) == 0 && (path[len] == 0 || path[len] == '/');
}

// A path whose durability the shim models: under the directory, outside the
// state directory, and not SQLite's -shm (the wal-index lives in shared
// memory; a power cut deletes it and SQLite rebuilds it).
static int tracked(const char* path) {
  if (!under(path, g_dir, g_dir_len) || under(path, g_state, g_state_len)) return 0;
  size_t n = strlen(path);
  return !(n >= 4 && strcmp(path + n - 4, "-shm") == 0);
}

// ---- Records --------------------------------------------------------------

static Rec* find_rec(dev_t dev, ino_t ino) {
  // Newest first: an inode number reused by a new file maps to the new record.
  for (int i = g_nrecs - 1; i >= 0; --i)
    if (g_recs[i].dev == dev && g_recs[i].ino == ino) return &g_recs[i];
  return NULL;
}

static Rec* new_rec(dev_t dev, ino_t ino, long long id) {
  if (g_nrecs >= kMaxRecs) {
    logline("X too many files for the shim (%d)", kMaxRecs);
    return NULL;
  }
  Rec* r = &g_recs[g_nrecs++];
  memset(r, 0, sizeof *r);
  r->dev = dev;
  r->ino = ino;
  r->id = id;
  return r;
}

static void image_path(long long id, char* out) { snprintf(out, PATH_MAX, "%s/img-%lld", g_state, id); }

static void mark(Rec* r, int64_t lo, int64_t hi) {
  if (!r || hi <= lo) return;
  if (!r->dirty) {
    r->dirty = 1;
    r->lo = lo;
    r->hi = hi;
    return;
  }
  if (lo < r->lo) r->lo = lo;
  if (hi > r->hi) r->hi = hi;
}

// Copies [lo, hi) of `src` (clipped to `size`) to `dst`; truncates dst to size.
static int copy_span(int src, int dst, int64_t lo, int64_t hi, int64_t size) {
  if (hi > size) hi = size;
  for (int64_t off = lo; off < hi;) {
    size_t want = (size_t)((hi - off) < (int64_t)sizeof g_buf ? (hi - off) : (int64_t)sizeof g_buf);
    ssize_t got = sys_pread(src, g_buf, want, off);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // the file shrank meanwhile: the truncate below settles it
    for (ssize_t done = 0; done < got;) {
      ssize_t w = sys_pwrite(dst, g_buf + done, (size_t)(got - done), off + done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return -1;
      done += w;
    }
    off += got;
  }
  return sys_ftruncate(dst, size);
}

// The first touch of a file that existed before: its current content is
// durable (the parent synced everything before it started this process).
// Called with g_mu held, before the operation that changes it.
static Rec* ensure_rec_path(const char* path) {
  struct stat st;
  if (sys_lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) return NULL;
  Rec* r = find_rec(st.st_dev, st.st_ino);
  if (r) return r;
  r = new_rec(st.st_dev, st.st_ino, ++g_next_id);
  if (!r) return NULL;
  char img[PATH_MAX];
  image_path(r->id, img);
  int src = sys_open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
  int dst = sys_open(img, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (src < 0 || dst < 0 || copy_span(src, dst, 0, st.st_size, st.st_size) != 0)
    logline("X cannot copy %s to its image (errno %d)", path, errno);
  if (src >= 0) sys_close(src);
  if (dst >= 0) sys_close(dst);
  r->has_image = 1;
  logline("N %lld %s", r->id, path);
  return r;
}

static Rec* rec_of_fd(int fd, struct stat* st) {
  if (sys_fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) return NULL;
  return find_rec(st->st_dev, st->st_ino);
}

// fsync/fdatasync of `fd` returned 0: the file's image becomes its current content.
static void sync_rec(Rec* r, int fd) {
  char proc[64], img[PATH_MAX];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  image_path(r->id, img);
  int src = sys_open(proc, O_RDONLY | O_NONBLOCK, 0);
  struct stat st;
  if (src < 0 || sys_fstat(src, &st) != 0) {
    logline("X cannot reopen descriptor %d of file %lld to sync its image (errno %d)", fd, r->id, errno);
    if (src >= 0) sys_close(src);
    return;
  }
  int dst = sys_open(img, O_WRONLY | O_CREAT, 0600);
  if (dst < 0) {
    logline("X cannot open image %s (errno %d)", img, errno);
    sys_close(src);
    return;
  }
  int64_t lo = r->dirty ? r->lo : st.st_size, hi = r->dirty ? r->hi : st.st_size;
  if (!r->has_image) {  // a new file's image starts empty: copy all it holds
    lo = 0;
    hi = kToEnd;
  }
  r->dirty = 0;
  if (copy_span(src, dst, lo, hi, st.st_size) != 0) logline("X cannot write image %s (errno %d)", img, errno);
  sys_close(dst);
  sys_close(src);
  r->has_image = 1;
  logline("S %lld", r->id);
}

static void after_write(int fd, int64_t lo, int64_t hi) {
  struct stat st;
  Rec* r = rec_of_fd(fd, &st);
  if (!r) return;
  mark(r, lo, hi);
  const int fl = sys_fcntl_getfl(fd);
  if (fl >= 0 && (fl & (O_SYNC | O_DSYNC))) sync_rec(r, fd);
}

// ---- Real functions ---------------------------------------------------------

#define REAL(name, type)                                             \
  static type real_##name(void) {                                    \
    static type p;                                                   \
    type q = __atomic_load_n(&p, __ATOMIC_ACQUIRE);                  \
    if (!q) {                                                        \
      q = (type)dlsym(RTLD_NEXT, #name);                             \
      __atomic_store_n(&p, q, __ATOMIC_RELEASE);                     \
    }                                                                \
    return q;                                                        \
  }

typedef int (*open_fn)(const char*, int, ...);
typedef int (*openat_fn)(int, const char*, int, ...);
typedef int (*open2_fn)(const char*, int);
typedef int (*openat2_fn)(int, const char*, int);
typedef ssize_t (*write_fn)(int, const void*, size_t);
typedef ssize_t (*pwrite_fn)(int, const void*, size_t, off_t);
typedef ssize_t (*writev_fn)(int, const struct iovec*, int);
typedef ssize_t (*pwritev_fn)(int, const struct iovec*, int, off_t);
typedef ssize_t (*pwritev2_fn)(int, const struct iovec*, int, off_t, int);
typedef int (*ftruncate_fn)(int, off_t);
typedef int (*truncate_fn)(const char*, off_t);
typedef int (*fd_fn)(int);
typedef int (*fallocate_fn)(int, int, off_t, off_t);
typedef int (*pfallocate_fn)(int, off_t, off_t);
typedef int (*rename_fn)(const char*, const char*);
typedef int (*renameat_fn)(int, const char*, int, const char*);
typedef int (*renameat2_fn)(int, const char*, int, const char*, unsigned);
typedef int (*unlink_fn)(const char*);
typedef int (*unlinkat_fn)(int, const char*, int);
typedef int (*link_fn)(const char*, const char*);
typedef int (*linkat_fn)(int, const char*, int, const char*, int);
typedef void* (*mmap_fn)(void*, size_t, int, int, int, off_t);
typedef void (*sync_fn)(void);
typedef FILE* (*fopen_fn)(const char*, const char*);

REAL(open, open_fn)
REAL(open64, open_fn)
REAL(openat, openat_fn)
REAL(openat64, openat_fn)
REAL(__open_2, open2_fn)
REAL(__open64_2, open2_fn)
REAL(__openat_2, openat2_fn)
REAL(__openat64_2, openat2_fn)
REAL(write, write_fn)
REAL(pwrite, pwrite_fn)
REAL(pwrite64, pwrite_fn)
REAL(writev, writev_fn)
REAL(pwritev, pwritev_fn)
REAL(pwritev64, pwritev_fn)
REAL(pwritev2, pwritev2_fn)
REAL(pwritev64v2, pwritev2_fn)
REAL(ftruncate, ftruncate_fn)
REAL(ftruncate64, ftruncate_fn)
REAL(truncate, truncate_fn)
REAL(truncate64, truncate_fn)
REAL(fsync, fd_fn)
REAL(fdatasync, fd_fn)
REAL(syncfs, fd_fn)
REAL(sync, sync_fn)
REAL(fallocate, fallocate_fn)
REAL(fallocate64, fallocate_fn)
REAL(posix_fallocate, pfallocate_fn)
REAL(posix_fallocate64, pfallocate_fn)
REAL(rename, rename_fn)
REAL(renameat, renameat_fn)
REAL(renameat2, renameat2_fn)
REAL(unlink, unlink_fn)
REAL(unlinkat, unlinkat_fn)
REAL(link, link_fn)
REAL(linkat, linkat_fn)
REAL(symlink, link_fn)
REAL(mmap, mmap_fn)
REAL(mmap64, mmap_fn)
REAL(fopen, fopen_fn)
REAL(fopen64, fopen_fn)

static void resolve_all(void) {
  real_open(), real_open64(), real_openat(), real_openat64(), real___open_2(), real___open64_2();
  real___openat_2(), real___openat64_2(), real_write(), real_pwrite(), real_pwrite64(), real_writev();
  real_pwritev(), real_pwritev64(), real_pwritev2(), real_pwritev64v2(), real_ftruncate(), real_ftruncate64();
  real_truncate(), real_truncate64(), real_fsync(), real_fdatasync(), real_syncfs(), real_sync();
  real_fallocate(), real_fallocate64(), real_posix_fallocate(), real_posix_fallocate64(), real_rename();
  real_renameat(), real_renameat2(), real_unlink(), real_unlinkat(), real_link(), real_linkat();
  real_symlink(), real_mmap(), real_mmap64(), real_fopen(), real_fopen64();
}

// ---- Opening ----------------------------------------------------------------

// What every open variant does around the real call (`call` makes it).
typedef struct {
  int kind;  // 0: open(path, flags, mode); 1: openat(...); 2: __open_2(path, flags); 3: __openat_2
  void* fn;
  int dirfd;
  const char* path;
  int flags;
  mode_t mode;
} OpenCall;

static int call_open(const OpenCall* c) {
  switch (c->kind) {
    case 0:
      return ((open_fn)c->fn)(c->path, c->flags, c->mode);
    case 1:
      return ((openat_fn)c->fn)(c->dirfd, c->path, c->flags, c->mode);
    case 2:
      return ((open2_fn)c->fn)(c->path, c->flags);
    default:
      return ((openat2_fn)c->fn)(c->dirfd, c->path, c->flags);
  }
}

static int do_open(const OpenCall* c) {
  if (!c->fn) {
    errno = ENOSYS;
    return -1;
  }
  if (!on()) return call_open(c);
  char path[PATH_MAX];
  if (abs_path(c->dirfd, c->path, path) != 0 || !tracked(path)) return call_open(c);
  const int acc = c->flags & O_ACCMODE;
  const int writes = acc != O_RDONLY || (c->flags & O_TRUNC);
  if (!(c->flags & O_CREAT) && !writes) return call_open(c);
  if (c->flags & (O_DIRECTORY | O_PATH)) return call_open(c);
  pthread_mutex_lock(&g_mu);
  struct stat st;
  const int existed = sys_lstat(path, &st) == 0;
  Rec* r = NULL;
  long long created = 0;
  if (existed) {
    if (writes && S_ISREG(st.st_mode)) r = ensure_rec_path(path);  // before O_TRUNC changes it
  } else if (c->flags & O_CREAT) {
    if (c->flags & __O_TMPFILE) logline("X O_TMPFILE under %s", path);
    created = ++g_next_id;
    logline("C %lld %s", created, path);
  }
  const int fd = call_open(c);
  const int err = errno;
  if (fd >= 0) {
    if (created) {
      struct stat now;
      if (sys_fstat(fd, &now) == 0) new_rec(now.st_dev, now.st_ino, created);
    } else if (r && (c->flags & O_TRUNC)) {
      mark(r, 0, kToEnd);
    }
  } else if (created) {
    logline("Z");
  }
  pthread_mutex_unlock(&g_mu);
  errno = err;
  return fd;
}

static mode_t va_mode(int flags, va_list ap) {
  return (flags & (O_CREAT | __O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

EXPORT int open(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = va_mode(flags, ap);
  va_end(ap);
  OpenCall c = {0, (void*)real_open(), AT_FDCWD, path, flags, mode};
  return do_open(&c);
}
EXPORT int open64(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = va_mode(flags, ap);
  va_end(ap);
  OpenCall c = {0, (void*)real_open64(), AT_FDCWD, path, flags, mode};
  return do_open(&c);
}
EXPORT int openat(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = va_mode(flags, ap);
  va_end(ap);
  OpenCall c = {1, (void*)real_openat(), dirfd, path, flags, mode};
  return do_open(&c);
}
EXPORT int openat64(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = va_mode(flags, ap);
  va_end(ap);
  OpenCall c = {1, (void*)real_openat64(), dirfd, path, flags, mode};
  return do_open(&c);
}
EXPORT int __open_2(const char* path, int flags) {
  OpenCall c = {2, (void*)real___open_2(), AT_FDCWD, path, flags, 0};
  return do_open(&c);
}
EXPORT int __open64_2(const char* path, int flags) {
  OpenCall c = {2, (void*)real___open64_2(), AT_FDCWD, path, flags, 0};
  return do_open(&c);
}
EXPORT int __openat_2(int dirfd, const char* path, int flags) {
  OpenCall c = {3, (void*)real___openat_2(), dirfd, path, flags, 0};
  return do_open(&c);
}
EXPORT int __openat64_2(int dirfd, const char* path, int flags) {
  OpenCall c = {3, (void*)real___openat64_2(), dirfd, path, flags, 0};
  return do_open(&c);
}
EXPORT int creat(const char* path, mode_t mode) {
  OpenCall c = {0, (void*)real_open(), AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode};
  return do_open(&c);
}
EXPORT int creat64(const char* path, mode_t mode) {
  OpenCall c = {0, (void*)real_open64(), AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode};
  return do_open(&c);
}

// stdio opens files through glibc's internal open, which no wrapper sees.
static FILE* do_fopen(fopen_fn fn, const char* path, const char* mode) {
  if (on() && mode && strpbrk(mode, "wa+")) {
    char p[PATH_MAX];
    if (abs_path(AT_FDCWD, path, p) == 0 && tracked(p)) {
      pthread_mutex_lock(&g_mu);
      logline("X fopen(\"%s\", \"%s\") writes a tracked file through stdio", p, mode);
      pthread_mutex_unlock(&g_mu);
    }
  }
  return fn(path, mode);
}
EXPORT FILE* fopen(const char* path, const char* mode) { return do_fopen(real_fopen(), path, mode); }
EXPORT FILE* fopen64(const char* path, const char* mode) { return do_fopen(real_fopen64(), path, mode); }

// ---- Writing ------------------------------------------------------------------

static int maybe_tracked_fd(int fd) {
  if (!on() || fd < 0) return 0;
  struct stat st;
  if (sys_fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  pthread_mutex_lock(&g_mu);
  const int known = find_rec(st.st_dev, st.st_ino) != NULL;
  pthread_mutex_unlock(&g_mu);
  return known;
}

static void noted(int fd, int64_t lo, int64_t hi) {
  const int err = errno;
  pthread_mutex_lock(&g_mu);
  after_write(fd, lo, hi);
  pthread_mutex_unlock(&g_mu);
  errno = err;
}

EXPORT ssize_t write(int fd, const void* buf, size_t n) {
  const ssize_t w = real_write()(fd, buf, n);
  if (w > 0 && maybe_tracked_fd(fd)) {
    const int err = errno;
    const off_t end = sys_lseek(fd, 0, SEEK_CUR);
    errno = err;
    if (end >= 0) noted(fd, end - w, end);
  }
  return w;
}
static ssize_t do_pwrite(pwrite_fn fn, int fd, const void* buf, size_t n, off_t off) {
  const ssize_t w = fn(fd, buf, n, off);
  if (w > 0 && maybe_tracked_fd(fd)) noted(fd, off, off + w);
  return w;
}
EXPORT ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) { return do_pwrite(real_pwrite(), fd, buf, n, off); }
EXPORT ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  return do_pwrite(real_pwrite64(), fd, buf, n, off);
}
EXPORT ssize_t writev(int fd, const struct iovec* iov, int cnt) {
  const ssize_t w = real_writev()(fd, iov, cnt);
  if (w > 0 && maybe_tracked_fd(fd)) {
    const int err = errno;
    const off_t end = sys_lseek(fd, 0, SEEK_CUR);
    errno = err;
    if (end >= 0) noted(fd, end - w, end);
  }
  return w;
}
static ssize_t do_pwritev(pwritev_fn fn, int fd, const struct iovec* iov, int cnt, off_t off) {
  const ssize_t w = fn(fd, iov, cnt, off);
  if (w > 0 && maybe_tracked_fd(fd)) noted(fd, off, off + w);
  return w;
}
EXPORT ssize_t pwritev(int fd, const struct iovec* iov, int cnt, off_t off) {
  return do_pwritev(real_pwritev(), fd, iov, cnt, off);
}
EXPORT ssize_t pwritev64(int fd, const struct iovec* iov, int cnt, off_t off) {
  return do_pwritev(real_pwritev64(), fd, iov, cnt, off);
}
static ssize_t do_pwritev2(pwritev2_fn fn, int fd, const struct iovec* iov, int cnt, off_t off, int flags) {
  const ssize_t w = fn(fd, iov, cnt, off, flags);
  if (w > 0 && maybe_tracked_fd(fd)) {
    if (off == -1) {
      const int err = errno;
      const off_t end = sys_lseek(fd, 0, SEEK_CUR);
      errno = err;
      if (end >= 0) noted(fd, end - w, end);
    } else {
      noted(fd, off, off + w);
    }
    if (flags & (RWF_DSYNC | RWF_SYNC)) {
      const int err = errno;
      pthread_mutex_lock(&g_mu);
      struct stat st;
      Rec* r = rec_of_fd(fd, &st);
      if (r) sync_rec(r, fd);
      pthread_mutex_unlock(&g_mu);
      errno = err;
    }
  }
  return w;
}
EXPORT ssize_t pwritev2(int fd, const struct iovec* iov, int cnt, off_t off, int flags) {
  return do_pwritev2(real_pwritev2(), fd, iov, cnt, off, flags);
}
EXPORT ssize_t pwritev64v2(int fd, const struct iovec* iov, int cnt, off_t off, int flags) {
  return do_pwritev2(real_pwritev64v2(), fd, iov, cnt, off, flags);
}

static int do_ftruncate(ftruncate_fn fn, int fd, off_t len) {
  struct stat st;
  const int known = maybe_tracked_fd(fd) && sys_fstat(fd, &st) == 0;
  const int rc = fn(fd, len);
  if (rc == 0 && known) noted(fd, len < st.st_size ? len : st.st_size, kToEnd);
  return rc;
}
EXPORT int ftruncate(int fd, off_t len) { return do_ftruncate(real_ftruncate(), fd, len); }
EXPORT int ftruncate64(int fd, off_t len) { return do_ftruncate(real_ftruncate64(), fd, len); }

static int do_truncate(truncate_fn fn, const char* path, off_t len) {
  char p[PATH_MAX];
  if (!on() || abs_path(AT_FDCWD, path, p) != 0 || !tracked(p)) return fn(path, len);
  pthread_mutex_lock(&g_mu);
  Rec* r = ensure_rec_path(p);
  struct stat st;
  const int had = sys_lstat(p, &st) == 0;
  const int rc = fn(path, len);
  const int err = errno;
  if (rc == 0 && r && had) mark(r, len < st.st_size ? len : st.st_size, kToEnd);
  pthread_mutex_unlock(&g_mu);
  errno = err;
  return rc;
}
EXPORT int truncate(const char* path, off_t len) { return do_truncate(real_truncate(), path, len); }
EXPORT int truncate64(const char* path, off_t len) { return do_truncate(real_truncate64(), path, len); }

static int do_fallocate(fallocate_fn fn, int fd, int mode, off_t off, off_t len) {
  struct stat st;
  const int known = maybe_tracked_fd(fd) && sys_fstat(fd, &st) == 0;
  const int rc = fn(fd, mode, off, len);
  if (rc == 0 && known) noted(fd, off < st.st_size ? off : st.st_size, kToEnd);
  return rc;
}
EXPORT int fallocate(int fd, int mode, off_t off, off_t len) { return do_fallocate(real_fallocate(), fd, mode, off, len); }
EXPORT int fallocate64(int fd, int mode, off_t off, off_t len) {
  return do_fallocate(real_fallocate64(), fd, mode, off, len);
}
static int do_posix_fallocate(pfallocate_fn fn, int fd, off_t off, off_t len) {
  struct stat st;
  const int known = maybe_tracked_fd(fd) && sys_fstat(fd, &st) == 0;
  const int rc = fn(fd, off, len);
  if (rc == 0 && known) noted(fd, off < st.st_size ? off : st.st_size, kToEnd);
  return rc;
}
EXPORT int posix_fallocate(int fd, off_t off, off_t len) { return do_posix_fallocate(real_posix_fallocate(), fd, off, len); }
EXPORT int posix_fallocate64(int fd, off_t off, off_t len) {
  return do_posix_fallocate(real_posix_fallocate64(), fd, off, len);
}

// ---- Syncing ------------------------------------------------------------------

static void after_sync(int fd) {
  struct stat st;
  if (sys_fstat(fd, &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    char p[PATH_MAX], n[PATH_MAX];
    if (fd_path(fd, p) != 0) return;
    normalize(p, n);
    if (!under(n, g_dir, g_dir_len) || under(n, g_state, g_state_len)) return;
    pthread_mutex_lock(&g_mu);
    logline("D %s", n);
    pthread_mutex_unlock(&g_mu);
    return;
  }
  if (!S_ISREG(st.st_mode)) return;
  pthread_mutex_lock(&g_mu);
  Rec* r = find_rec(st.st_dev, st.st_ino);
  if (r) sync_rec(r, fd);
  pthread_mutex_unlock(&g_mu);
}

static int do_sync(fd_fn fn, int fd) {
  const int rc = fn(fd);
  if (rc == 0 && on()) {
    const int err = errno;
    after_sync(fd);
    errno = err;
  }
  return rc;
}
EXPORT int fsync(int fd) { return do_sync(real_fsync(), fd); }
EXPORT int fdatasync(int fd) { return do_sync(real_fdatasync(), fd); }

// Whole-file-system syncs are not modelled: the parent fails a run that uses them.
EXPORT int syncfs(int fd) {
  if (on()) {
    pthread_mutex_lock(&g_mu);
    logline("X syncfs() is not modelled");
    pthread_mutex_unlock(&g_mu);
  }
  return real_syncfs()(fd);
}
EXPORT void sync(void) {
  if (on()) {
    pthread_mutex_lock(&g_mu);
    logline("X sync() is not modelled");
    pthread_mutex_unlock(&g_mu);
  }
  real_sync()();
}

// ---- The namespace --------------------------------------------------------------

static int do_rename(int olddir, const char* oldpath, int newdir, const char* newpath, unsigned flags,
                     int (*call)(const void*), const void* ctx) {
  char a[PATH_MAX], b[PATH_MAX];
  if (!on() || abs_path(olddir, oldpath, a) != 0 || abs_path(newdir, newpath, b) != 0) return call(ctx);
  const int ta = tracked(a), tb = tracked(b);
  if (!ta && !tb) return call(ctx);
  pthread_mutex_lock(&g_mu);
  if (ta != tb || (flags & RENAME_EXCHANGE)) logline("X rename %s -> %s (flags %u) is not modelled", a, b, flags);
  ensure_rec_path(a);
  ensure_rec_path(b);
  logline("R %s\t%s", a, b);
  const int rc = call(ctx);
  const int err = errno;
  if (rc != 0) logline("Z");
  pthread_mutex_unlock(&g_mu);
  errno = err;
  return rc;
}

typedef struct {
  int olddir;
  const char* oldpath;
  int newdir;
  const char* newpath;
  unsigned flags;
  int kind;
} RenameCtx;
static int call_rename(const void* p) {
  const RenameCtx* c = p;
  switch (c->kind) {
    case 0:
      return real_rename()(c->oldpath, c->newpath);
    case 1:
      return real_renameat()(c->olddir, c->oldpath, c->newdir, c->newpath);
    default:
      return real_renameat2()(c->olddir, c->oldpath, c->newdir, c->newpath, c->flags);
  }
}
EXPORT int rename(const char* oldpath, const char* newpath) {
  RenameCtx c = {AT_FDCWD, oldpath, AT_FDCWD, newpath, 0, 0};
  return do_rename(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0, call_rename, &c);
}
EXPORT int renameat(int olddir, const char* oldpath, int newdir, const char* newpath) {
  RenameCtx c = {olddir, oldpath, newdir, newpath, 0, 1};
  return do_rename(olddir, oldpath, newdir, newpath, 0, call_rename, &c);
}
EXPORT int renameat2(int olddir, const char* oldpath, int newdir, const char* newpath, unsigned flags) {
  RenameCtx c = {olddir, oldpath, newdir, newpath, flags, 2};
  return do_rename(olddir, oldpath, newdir, newpath, flags, call_rename, &c);
}

static int do_unlink(int dirfd, const char* path, int flags, int kind) {
  char p[PATH_MAX];
#define CALL_UNLINK() (kind == 0 ? real_unlink()(path) : real_unlinkat()(dirfd, path, flags))
  if (!on() || abs_path(dirfd, path, p) != 0 || !tracked(p)) return CALL_UNLINK();
  pthread_mutex_lock(&g_mu);
  if (flags & AT_REMOVEDIR) {
    logline("X rmdir %s is not modelled", p);
  } else {
    ensure_rec_path(p);
    logline("U %s", p);
  }
  const int rc = CALL_UNLINK();
  const int err = errno;
  if (rc != 0 && !(flags & AT_REMOVEDIR)) logline("Z");
  pthread_mutex_unlock(&g_mu);
  errno = err;
  return rc;
#undef CALL_UNLINK
}
EXPORT int unlink(const char* path) { return do_unlink(AT_FDCWD, path, 0, 0); }
EXPORT int unlinkat(int dirfd, const char* path, int flags) { return do_unlink(dirfd, path, flags, 1); }

static void refuse_link(const char* what, int dirfd, const char* path) {
  char p[PATH_MAX];
  if (!on() || abs_path(dirfd, path, p) != 0 || !tracked(p)) return;
  pthread_mutex_lock(&g_mu);
  logline("X %s to %s is not modelled", what, p);
  pthread_mutex_unlock(&g_mu);
}
EXPORT int link(const char* from, const char* to) {
  refuse_link("link", AT_FDCWD, to);
  return real_link()(from, to);
}
EXPORT int linkat(int fromdir, const char* from, int todir, const char* to, int flags) {
  refuse_link("linkat", todir, to);
  return real_linkat()(fromdir, from, todir, to, flags);
}
EXPORT int symlink(const char* from, const char* to) {
  refuse_link("symlink", AT_FDCWD, to);
  return real_symlink()(from, to);
}

// ---- Shared writable mappings -------------------------------------------------------

// Only SQLite's -shm may be mapped shared and writable (it is not tracked);
// stores through a mapping of a tracked file would escape the model.
static void check_mmap(int prot, int flags, int fd) {
  if (!on() || fd < 0 || !(prot & PROT_WRITE) || !(flags & MAP_SHARED)) return;
  struct stat st;
  if (sys_fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  char p[PATH_MAX], n[PATH_MAX];
  if (fd_path(fd, p) != 0) return;
  normalize(p, n);
  if (!tracked(n)) return;
  pthread_mutex_lock(&g_mu);
  logline("X shared writable mmap of %s is not modelled", n);
  pthread_mutex_unlock(&g_mu);
}
EXPORT void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  check_mmap(prot, flags, fd);
  return real_mmap()(addr, len, prot, flags, fd, off);
}
EXPORT void* mmap64(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  check_mmap(prot, flags, fd);
  return real_mmap64()(addr, len, prot, flags, fd, off);
}
