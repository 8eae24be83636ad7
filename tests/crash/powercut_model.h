// powercut_model.h — the parent's half of the simulated power cut: after the
// crash child (run with powercut_shim.c preloaded) was SIGKILLed, power_cut()
// puts every file the child touched under the cut directory back to what a
// power cut would have left, from the shim's journal and durable images.
//
// The durability model (what survives a power cut), stricter than ext4
// data=ordered:
// - File content: the bytes as of the file's last fsync() or fdatasync(), on
//   any descriptor of it (or as they were when the child started: the parent
//   syncs everything between runs). Everything written after that is lost,
//   all of it (no torn or partial survival). sync_file_range() is not a sync.
//   A file whose name survives but whose content was never synced is empty
//   (as on ext4 with delayed allocation).
// - Directory entries: the creation, rename or unlink of a name survives only
//   if its directory was fsync'd afterwards — except that fsync/fdatasync of a
//   newly created file also makes its current name(s) durable (the ext4
//   behaviour for a new inode); a rename or unlink is never made durable by a
//   file's fsync. Directory fsyncs apply to that directory only (not to its
//   subdirectories).
// - SQLite's -shm (the WAL index) is deleted: SQLite rebuilds it from the WAL
//   when the first connection opens the database.
// Whatever survives here survives a power cut on ext4 data=ordered too: the
// model is at least as strict. ext4 may keep more (a journal commit forced by
// an unrelated fsync carries earlier renames and unlinks with it; writeback
// may have written some unsynced pages); the model keeps none of that.
#ifndef XFERQ_TESTS_CRASH_POWERCUT_MODEL_H_
#define XFERQ_TESTS_CRASH_POWERCUT_MODEL_H_

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace xferq::crash {

struct PowerCutResult {
  bool log_found = false;
  int events = 0;           // journal lines replayed
  int file_syncs = 0;       // S
  int dir_syncs = 0;        // D
  int restored = 0;         // files rewritten with their durable content
  int deleted = 0;          // files whose name was not durable
  int64_t bytes_dropped = 0;  // unsynced bytes lost (current size beyond durable size, summed)
  std::vector<std::string> unsupported;  // X lines: the model did not cover something
  std::vector<std::string> actions;      // what the cut did, one line per path
  std::string summary() const {
    std::ostringstream o;
    o << events << " journal events, " << file_syncs << " file syncs, " << dir_syncs << " directory syncs; "
      << restored << " files rolled back, " << deleted << " deleted, " << bytes_dropped << " unsynced bytes dropped";
    return o.str();
  }
  std::string details(size_t max_lines = 60) const {
    std::string out;
    for (size_t i = 0; i < actions.size() && i < max_lines; ++i) out += "    " + actions[i] + "\n";
    if (actions.size() > max_lines) out += "    ... " + std::to_string(actions.size() - max_lines) + " more\n";
    return out;
  }
};

namespace powercut_detail {

inline std::string slurp(const std::string& path, bool* ok = nullptr) {
  std::ifstream in(path, std::ios::binary);
  if (ok) *ok = static_cast<bool>(in);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string parent_of(const std::string& p) {
  const auto slash = p.rfind('/');
  return slash == 0 ? "/" : p.substr(0, slash);
}

inline void remove_shm(const std::string& dir, const std::string& skip, PowerCutResult* r) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> subdirs;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    const std::string p = dir + "/" + name;
    if (p == skip) continue;
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      subdirs.push_back(p);
    } else if (name.size() > 4 && name.compare(name.size() - 4, 4, "-shm") == 0) {
      ::unlink(p.c_str());
      r->actions.push_back("deleted " + p + " (the WAL index lives in shared memory)");
    }
  }
  ::closedir(d);
  for (const std::string& s : subdirs) remove_shm(s, skip, r);
}

}  // namespace powercut_detail

// The power cut: rolls every path the child touched under `dir` back to its
// durable state (see the model above) and deletes every -shm under `dir`.
// `state` is the shim's state directory (XFERQ_POWERCUT_STATE).
inline PowerCutResult power_cut(const std::string& dir, const std::string& state) {
  using namespace powercut_detail;
  PowerCutResult r;
  struct Op {
    char kind = 0;
    long long id = 0;
    std::string a, b;
  };
  std::vector<Op> ops;
  bool ok = false;
  const std::string log = slurp(state + "/log", &ok);
  r.log_found = ok;
  size_t pos = 0;
  while (pos < log.size()) {
    const size_t nl = log.find('\n', pos);
    if (nl == std::string::npos) break;  // a line cut short by the kill: its event did not happen
    const std::string line = log.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    ++r.events;
    Op op;
    op.kind = line[0];
    const std::string rest = line.size() > 2 ? line.substr(2) : "";
    switch (op.kind) {
      case 'N':
      case 'C': {
        const auto sp = rest.find(' ');
        op.id = std::stoll(rest.substr(0, sp));
        op.a = rest.substr(sp + 1);
        break;
      }
      case 'S':
        op.id = std::stoll(rest);
        break;
      case 'R': {
        const auto tab = rest.find('\t');
        op.a = rest.substr(0, tab);
        op.b = rest.substr(tab + 1);
        break;
      }
      case 'U':
      case 'D':
      case 'X':
        op.a = rest;
        break;
      case 'Z':
        // The C, R or U just before failed: it changed nothing.
        if (!ops.empty() && (ops.back().kind == 'C' || ops.back().kind == 'R' || ops.back().kind == 'U'))
          ops.pop_back();
        continue;
      default:
        r.unsupported.push_back("unknown journal line '" + line + "'");
        continue;
    }
    ops.push_back(op);
  }

  // cur: the namespace now; dur: what a power cut leaves. 0 = no file.
  // A path in neither was not touched: it stays as it is.
  std::map<std::string, long long> cur, dur;
  std::set<long long> synced;  // files with a durable image
  auto first_touch = [&](const std::string& p) {
    if (!dur.count(p)) dur[p] = 0;  // the shim reports files that existed with N first
    if (!cur.count(p)) cur[p] = 0;
  };
  for (const Op& op : ops) {
    switch (op.kind) {
      case 'N':
        if (!dur.count(op.a)) dur[op.a] = op.id;
        cur[op.a] = op.id;
        synced.insert(op.id);
        break;
      case 'C':
        first_touch(op.a);
        cur[op.a] = op.id;
        break;
      case 'R':
        first_touch(op.a);
        first_touch(op.b);
        cur[op.b] = cur[op.a];
        cur[op.a] = 0;
        break;
      case 'U':
        first_touch(op.a);
        cur[op.a] = 0;
        break;
      case 'D':
        ++r.dir_syncs;
        for (const auto& [p, id] : cur)
          if (parent_of(p) == op.a) dur[p] = id;
        break;
      case 'S': {
        ++r.file_syncs;
        synced.insert(op.id);
        bool named = false;
        for (const auto& [p, id] : dur) named = named || id == op.id;
        if (!named)  // a new file's fsync makes its name durable too
          for (const auto& [p, id] : cur)
            if (id == op.id) dur[p] = id;
        break;
      }
      case 'X':
        r.unsupported.push_back(op.a);
        break;
    }
  }

  for (const auto& [p, id] : dur) {
    struct stat st {};
    const bool exists = ::lstat(p.c_str(), &st) == 0;
    if (id == 0) {
      if (exists) {
        ::unlink(p.c_str());
        ++r.deleted;
        r.bytes_dropped += st.st_size;
        r.actions.push_back("deleted " + p + " (" + std::to_string(st.st_size) + " bytes; its name was never durable)");
      }
      continue;
    }
    const bool has_image = synced.count(id) != 0;
    const std::string want = has_image ? slurp(state + "/img-" + std::to_string(id)) : std::string();
    const std::string now = exists ? slurp(p) : std::string();
    if (exists && now == want) continue;
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
    if (fd < 0 || ::write(fd, want.data(), want.size()) != static_cast<ssize_t>(want.size())) {
      r.unsupported.push_back("cannot restore " + p);
    }
    if (fd >= 0) ::close(fd);
    ++r.restored;
    if (now.size() > want.size()) r.bytes_dropped += static_cast<int64_t>(now.size() - want.size());
    std::string why = !exists ? "recreated (its removal was never durable)" : "rolled back";
    if (!has_image) why += "; content never synced";
    r.actions.push_back(why + ": " + p + " " + (exists ? std::to_string(now.size()) : std::string("-")) + " -> " +
                        std::to_string(want.size()) + " bytes");
  }
  remove_shm(dir, state, &r);
  return r;
}

// Forgets the shim's journal and images: everything on disk is durable now
// (what the parent does between two runs counts as synced).
inline void clear_powercut_state(const std::string& state) {
  DIR* d = ::opendir(state.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  for (const std::string& n : names) ::unlink((state + "/" + n).c_str());
  ::rmdir(state.c_str());
}

}  // namespace xferq::crash

#endif  // XFERQ_TESTS_CRASH_POWERCUT_MODEL_H_
