// dashboard_assets.h — the dashboard's files (bindings/cli/dashboard/),
// compiled into the binary by cmake/EmbedFiles.cmake: no build step for the
// page itself, nothing fetched from elsewhere at run time.
#ifndef XFERQ_BINDINGS_CLI_DASHBOARD_ASSETS_H_
#define XFERQ_BINDINGS_CLI_DASHBOARD_ASSETS_H_

#include <cstddef>

namespace xferq::cli {

// One embedded file, served at `path` ("/" + its name; index.html also at "/").
// Thread safety: immutable static data.
struct DashboardAsset {
  const char* path;
  const unsigned char* data;
  size_t size;
};

extern const DashboardAsset kDashboardAssets[];
extern const size_t kDashboardAssetCount;

}  // namespace xferq::cli

#endif  // XFERQ_BINDINGS_CLI_DASHBOARD_ASSETS_H_
