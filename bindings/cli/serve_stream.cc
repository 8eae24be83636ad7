// serve_stream.cc — GET /api/events: the hub's events as Server-Sent Events.
// A stream starts with a `snapshot` event (every job as last seen and the
// throughput history); then each event in order, with consecutive ids. A
// follower that reconnects with Last-Event-ID gets what it missed if the hub
// still holds it, else a new snapshot; one that falls behind the events kept
// also gets a new snapshot. A comment every ~15 s keeps idle streams open.
#include <memory>

#include "serve_api.h"

namespace xferq::cli {

namespace {

// One follower's place in the stream.
// Thread safety: used by one request thread at a time (httplib calls a
// response's content provider from the thread serving it).
struct StreamCursor {
  uint64_t after = 0;        // the last event id sent
  bool need_snapshot = true;
  int idle_turns = 0;
};

std::string frame(uint64_t id, const std::string& type, const std::string& data) {
  return "id: " + std::to_string(id) + "\nevent: " + type + "\ndata: " + data + "\n\n";
}

// The next piece of the stream; "" if there is nothing to send yet. Sets
// *stopped when the hub stops (the server is shutting down).
std::string next_chunk(EventHub& hub, StreamCursor& cur, bool* stopped) {
  if (cur.need_snapshot) {
    cur.need_snapshot = false;
    const nlohmann::json snap = hub.snapshot(&cur.after);
    return frame(cur.after, "snapshot", snap.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  std::vector<ServeEvent> events;
  switch (hub.wait(cur.after, std::chrono::milliseconds(1000), 512, &events)) {
    case EventHub::Wait::events: {
      std::string out;
      for (const ServeEvent& e : events) out += frame(e.id, e.type, e.data);
      cur.after = events.back().id;
      cur.idle_turns = 0;
      return out;
    }
    case EventHub::Wait::gap:
      cur.need_snapshot = true;  // fell behind what the hub keeps: start over
      return "";
    case EventHub::Wait::timeout:
      if (++cur.idle_turns < 15) return "";
      cur.idle_turns = 0;
      return ": keepalive\n\n";
    case EventHub::Wait::stopped:
      *stopped = true;
      return "";
  }
  return "";
}

}  // namespace

void install_event_stream(httplib::Server& server, ApiContext& ctx) {
  ApiContext* c = &ctx;
  server.Get("/api/events", [c](const httplib::Request& req, httplib::Response& res) {
    if (!req.params.empty()) {
      send_error(res, {400, static_cast<uint32_t>(Errc::invalid_arg), "/api/events takes no query parameters"});
      return;
    }
    if (c->followers.fetch_add(1) >= kMaxFollowers) {
      c->followers.fetch_sub(1);
      res.set_header("Retry-After", "5");
      send_error(res, {503, static_cast<uint32_t>(Errc::busy), "too many event streams are open"});
      return;
    }
    auto cur = std::make_shared<StreamCursor>();
    const std::string last = req.get_header_value("Last-Event-ID");
    if (!last.empty() && last.size() < 20 && last.find_first_not_of("0123456789") == std::string::npos) {
      const uint64_t id = std::stoull(last);
      if (c->hub.can_resume_after(id)) {
        cur->after = id;
        cur->need_snapshot = false;
      }
    }
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_chunked_content_provider(
        "text/event-stream",
        [c, cur](size_t, httplib::DataSink& sink) {
          bool stopped = false;
          const std::string chunk = next_chunk(c->hub, *cur, &stopped);
          if (stopped) {
            sink.done();
            return true;
          }
          if (!chunk.empty() && !sink.write(chunk.data(), chunk.size())) return false;  // the follower left
          return true;
        },
        [c](bool) { c->followers.fetch_sub(1); });
  });
}

}  // namespace xferq::cli
