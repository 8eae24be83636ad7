// store.cc — Store::open(): the path names the backend.
#include "storage/store.h"

#include "storage/sqlite_store.h"

namespace xferq::detail {

Result<std::unique_ptr<Store>> Store::open(const std::string& path, const QueueOptions& options) {
  // Every path is a SQLite file today; a second backend adds its scheme here.
  return SqliteStore::open(path, options);
}

}  // namespace xferq::detail
