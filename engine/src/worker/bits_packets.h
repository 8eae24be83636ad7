// bits_packets.h — the vocabulary of the BITS upload protocol ([MC-BUP])
// that the upload driver and the Cancel-Session driver share: packet
// requests, and the parsing of the server's Ack headers.
//
// Thread safety: free functions without shared state.
#ifndef XFERQ_WORKER_BITS_PACKETS_H_
#define XFERQ_WORKER_BITS_PACKETS_H_

#include <cstdint>
#include <string>

#include "worker/curl_request.h"

namespace xferq::detail {

// The BITS 1.5 upload protocol, the one a BITS client offers.
inline constexpr const char* kBitsUploadProtocol = "{7df0354d-249b-430f-820d-3d2a9bef4931}";
inline constexpr uint32_t kSessionNotFound = 0x8020001Fu;  // BG_E_SESSION_NOT_FOUND

// Makes `request` a BITS_POST packet of `packet_type` ("Create-Session",
// "Fragment", "Close-Session", "Cancel-Session") for `session_id` (none for
// Create-Session), carrying `body` (empty but for fragments; it must outlive
// the request).
void make_bits_packet(CurlRequest& request, const std::string& packet_type, const std::string& session_id,
                      const std::string& body);

// The Ack's error: BITS-Error-Code (or [MC-BUP]'s spelling BITS-Error) as an
// HRESULT; 0 if absent or malformed.
uint32_t ack_error_code(const CurlRequest& request);

// "0x8020001F", "8020001F" -> the HRESULT; 0 if absent or malformed.
uint32_t parse_hresult(const std::string& v);

// BITS-Received-Content-Range: the next byte the server expects ("213");
// a "first-last" form is read as last + 1.
bool parse_received(const std::string& v, int64_t* next);

// `ref` (e.g. BITS-Reply-URL) resolved against `base`.
std::string resolve_url(const std::string& base, const std::string& ref);

// Whether `a` and `b` name one origin: the same scheme, host and port
// (the default port spelled out or not), compared as libcurl reads them.
// False if either does not parse.
bool same_origin(const std::string& a, const std::string& b);

}  // namespace xferq::detail

#endif  // XFERQ_WORKER_BITS_PACKETS_H_
