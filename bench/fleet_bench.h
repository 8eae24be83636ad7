// fleet_bench.h — the PostgreSQL ("fleet") modes of xferq_bench (issue 15):
// concurrent cancels vs a PostgreSQL floor over several processes,
// cross-host cancel-to-quiescence, and claims per second with several
// worker hosts, all on a private PostgreSQL cluster the bench starts and stops.
#ifndef XFERQ_BENCH_FLEET_BENCH_H_
#define XFERQ_BENCH_FLEET_BENCH_H_

#include <map>
#include <string>

namespace xferq::bench {

// Runs `mode` ("pg" and the child modes it starts: "pg-caller", "pg-peer",
// "pg-worker") with the parsed --key value arguments. Returns the exit code,
// or -1 when `mode` is none of these.
int fleet_main(const std::string& mode, const std::map<std::string, std::string>& args);

}  // namespace xferq::bench

#endif  // XFERQ_BENCH_FLEET_BENCH_H_
