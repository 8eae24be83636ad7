"""xferq — a BITS-like background transfer queue, from Python.

Pure ctypes over libxferq.so (the C ABI, xferq/xferq_c.h)::

    import xferq
    with xferq.Queue("/var/lib/app/transfers.db") as queue:
        job = queue.create_job("nightly update")
        job.add_file("https://example.com/update.bin", "/opt/app/update.bin")
        job.resume()
        ...
        if job.state is xferq.State.TRANSFERRED:
            job.complete()
        for j in queue:          # active jobs, in creation order
            print(j.id, j.state.name, j.progress)

Failed calls raise XferqError, which carries the BITS name and HRESULT
(``err.name == "DO_E_INVALID_STATE"``, ``err.hresult == 0x80D02013``).

The library is found through, in order: the environment variable
XFERQ_LIBRARY (a path), a libxferq.so next to this package, the repository's
build trees (build/{dev,release,asan,tsan}), then the system's library path.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as _dt
import enum
import os
import threading
from typing import Callable, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

__all__ = [
    "Queue", "Job", "JobType", "State", "Priority", "ErrorContext", "CompleteStatus",
    "Progress", "Times", "JobError", "FileInfo", "NotifyCommandLine", "XferqError", "BandwidthWindow",
    "hresult_name", "hresult_message", "library_path",
    "S_OK", "BG_S_PARTIAL_COMPLETE", "DO_E_INVALID_STATE", "BG_E_NOT_FOUND", "BG_E_EMPTY",
    "BG_E_ERROR_INFORMATION_UNAVAILABLE", "E_INVALIDARG", "E_NOTIMPL",
    "LENGTH_TO_EOF", "BG_E_INVALID_RANGE", "BG_E_OVERLAPPING_RANGES", "BG_E_TOO_MANY_RANGES_IN_FILE",
    "BG_E_INSUFFICIENT_RANGE_SUPPORT", "BG_E_INVALID_SERVER_RESPONSE",
]

# --------------------------------------------------------------------- codes

S_OK = 0x00000000
BG_S_PARTIAL_COMPLETE = 0x00200017
DO_E_INVALID_STATE = 0x80D02013
BG_E_NOT_FOUND = 0x80200001
BG_E_EMPTY = 0x80200003
BG_E_ERROR_INFORMATION_UNAVAILABLE = 0x8020000F
E_INVALIDARG = 0x80070057
E_NOTIMPL = 0x80004001
BG_E_VALIDATION_FAILED = 0x80200053
BG_E_MAXDOWNLOAD_TIMEOUT = 0x80200054
BG_E_MAX_DOWNLOAD_SIZE_LIMIT_REACHED = 0x80200064
BG_E_INSUFFICIENT_RANGE_SUPPORT = 0x80200013
BG_E_INVALID_SERVER_RESPONSE = 0x8020001B
BG_E_INVALID_RANGE = 0x8020002B
BG_E_OVERLAPPING_RANGES = 0x8020002C
BG_E_TOO_MANY_RANGES_IN_FILE = 0x80200052
# A range's length meaning "to the end of the remote file" (BG_LENGTH_TO_EOF).
LENGTH_TO_EOF = 0xFFFFFFFFFFFFFFFF
_E_INSUFFICIENT_BUFFER = 0x8007007A
_JOB_ID_SIZE = 39


# Job.security_flags values (BITS's BG_HTTP_REDIRECT_POLICY_*).
REDIRECT_POLICY_ALLOW_SILENT = 0x0000
REDIRECT_POLICY_ALLOW_REPORT = 0x0100
REDIRECT_POLICY_DISALLOW = 0x0200
REDIRECT_ALLOW_HTTPS_TO_HTTP = 0x0800

# Job.set_credentials targets and schemes.
AUTH_TARGET_SERVER, AUTH_TARGET_PROXY = 0, 1
AUTH_SCHEME_BASIC, AUTH_SCHEME_DIGEST, AUTH_SCHEME_BEARER = 0, 1, 2

# Job.set_proxy_settings usages.
PROXY_USAGE_PRECONFIG, PROXY_USAGE_NO_PROXY, PROXY_USAGE_OVERRIDE = 0, 1, 2

class State(enum.IntEnum):
    """BG_JOB_STATE."""
    QUEUED = 0
    CONNECTING = 1
    TRANSFERRING = 2
    SUSPENDED = 3
    ERROR = 4
    TRANSIENT_ERROR = 5
    TRANSFERRED = 6
    ACKNOWLEDGED = 7
    CANCELLED = 8

    @property
    def is_final(self) -> bool:
        return self in (State.ACKNOWLEDGED, State.CANCELLED)


class JobType(enum.IntEnum):
    """BG_JOB_TYPE."""
    DOWNLOAD = 0
    UPLOAD = 1
    UPLOAD_REPLY = 2


class Priority(enum.IntEnum):
    """BG_JOB_PRIORITY."""
    FOREGROUND = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3


class ErrorContext(enum.IntEnum):
    """BG_ERROR_CONTEXT."""
    NONE = 0
    UNKNOWN = 1
    GENERAL_QUEUE_MANAGER = 2
    QUEUE_MANAGER_NOTIFICATION = 3
    LOCAL_FILE = 4
    REMOTE_FILE = 5
    GENERAL_TRANSPORT = 6
    REMOTE_APPLICATION = 7


class CompleteStatus(enum.IntEnum):
    """What Job.complete() did: the success code it returned."""
    ALL_FILES = S_OK                       # every file renamed to its final path
    PARTIAL = BG_S_PARTIAL_COMPLETE        # only the finished files were kept


class Progress(NamedTuple):
    bytes_total: int          # -1 until every file's size is known
    bytes_transferred: int
    files_total: int
    files_transferred: int


class NotifyCommandLine(NamedTuple):
    program: str              # "" when none is set
    args: List[str]           # "{job}" stands for the job's id


class Times(NamedTuple):
    creation: _dt.datetime                       # aware, UTC
    modification: _dt.datetime
    transfer_completion: Optional[_dt.datetime]  # None until TRANSFERRED


class JobError(NamedTuple):
    hresult: int
    name: str                 # e.g. "BG_E_HTTP_ERROR_404"
    context: ErrorContext
    description: str
    file_index: Optional[int]


class FileInfo(NamedTuple):
    remote_url: str
    local_path: str
    temp_path: str            # "" until created
    bytes_total: int          # -1 if unknown
    bytes_transferred: int
    completed: bool
    # The last response for the file (0 / "" before any); final_url only
    # under REDIRECT_POLICY_ALLOW_REPORT.
    http_status: int = 0
    final_url: str = ""
    etag: str = ""
    last_modified: str = ""
    content_type: str = ""
    content_disposition: str = ""
    # What the file must be (set_file_integrity; -1 / "": not checked).
    expected_size: int = -1
    expected_sha256: str = ""
    expected_sha512: str = ""
    # add_file_with_ranges: the (offset, length) ranges; () for a whole file.
    ranges: Tuple[Tuple[int, int], ...] = ()


class XferqError(Exception):
    """A failed call: the BITS name, the HRESULT and a short message."""

    def __init__(self, name: str, hresult: int, message: str):
        super().__init__(name, hresult, message)
        self.name = name
        self.hresult = hresult
        self.message = message

    def __str__(self) -> str:
        return f"{self.name} (0x{self.hresult:08X}): {self.message}"


# ------------------------------------------------------------- the library

class _QueueOptions(ctypes.Structure):
    _fields_ = [
        ("start_worker", ctypes.c_int),
        ("max_concurrent_transfers", ctypes.c_int),
        ("progress_interval_ms", ctypes.c_uint32),
        ("poll_interval_ms", ctypes.c_uint32),
        ("busy_timeout_ms", ctypes.c_uint32),
        ("synchronous_full", ctypes.c_int),
        ("minimum_retry_delay_floor_s", ctypes.c_uint32),
        ("stall_timeout_s", ctypes.c_uint32),
        ("verify_tls", ctypes.c_int),
        ("user_agent", ctypes.c_char_p),
    ]


class BandwidthWindow(NamedTuple):
    """One window of a bandwidth schedule: on the days in `days` (bit N =
    weekday N, 0 = Sunday; e.g. 0x3E Monday to Friday), from start_hour up to
    end_hour (exclusive, local time), the queue-wide limit is bytes_per_sec
    (0 = none). The first window covering the hour wins."""
    days: int
    start_hour: int
    end_hour: int
    bytes_per_sec: int


class _BandwidthWindow(ctypes.Structure):
    _fields_ = [("days", ctypes.c_uint8), ("start_hour", ctypes.c_int32), ("end_hour", ctypes.c_int32),
                ("bytes_per_sec", ctypes.c_int64)]


class _Progress(ctypes.Structure):
    _fields_ = [("bytes_total", ctypes.c_int64), ("bytes_transferred", ctypes.c_int64),
                ("files_total", ctypes.c_uint32), ("files_transferred", ctypes.c_uint32)]


class _Times(ctypes.Structure):
    _fields_ = [("creation_us", ctypes.c_int64), ("modification_us", ctypes.c_int64),
                ("transfer_completion_us", ctypes.c_int64)]


class _ErrorInfo(ctypes.Structure):
    _fields_ = [("hresult", ctypes.c_uint32), ("context", ctypes.c_int32),
                ("file_index", ctypes.c_int32)]


class _FileSpec(ctypes.Structure):
    _fields_ = [("remote_url", ctypes.c_char_p), ("local_path", ctypes.c_char_p)]


class _FileRange(ctypes.Structure):
    _fields_ = [("offset", ctypes.c_uint64), ("length", ctypes.c_uint64)]


class _FileInfo(ctypes.Structure):
    _fields_ = [("remote_url", ctypes.c_char_p), ("local_path", ctypes.c_char_p),
                ("temp_path", ctypes.c_char_p), ("bytes_total", ctypes.c_int64),
                ("bytes_transferred", ctypes.c_int64), ("completed", ctypes.c_int32)]


class _FileResponse(ctypes.Structure):
    _fields_ = [("http_status", ctypes.c_int32), ("final_url", ctypes.c_char_p), ("etag", ctypes.c_char_p),
                ("last_modified", ctypes.c_char_p), ("content_type", ctypes.c_char_p),
                ("content_disposition", ctypes.c_char_p)]


_EventFn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)
_ErrorFn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p,
                            ctypes.POINTER(_ErrorInfo), ctypes.c_char_p)


class _Callbacks(ctypes.Structure):
    _fields_ = [("transferred", _EventFn), ("error", _ErrorFn), ("modified", _EventFn)]


_FileEventFn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32)
_ProgressFn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(_Progress))


class _ProgressCallbacks(ctypes.Structure):
    _fields_ = [("file_transferred", _FileEventFn), ("progress", _ProgressFn),
                ("progress_interval_ms", ctypes.c_uint32), ("progress_percent", ctypes.c_uint32)]


_hr = ctypes.c_uint32
_p = ctypes.c_void_p
_sz = ctypes.c_size_t
_IdArray = ctypes.c_char * _JOB_ID_SIZE

# name: (restype, argtypes)
_PROTOTYPES = {
    "xferq_hresult_name": (ctypes.c_char_p, [_hr]),
    "xferq_hresult_message": (ctypes.c_char_p, [_hr]),
    "xferq_queue_options_init": (None, [ctypes.POINTER(_QueueOptions)]),
    "xferq_queue_open": (_hr, [ctypes.c_char_p, ctypes.POINTER(_QueueOptions), ctypes.POINTER(_p)]),
    "xferq_queue_close": (None, [_p]),
    "xferq_queue_start_worker": (_hr, [_p]),
    "xferq_queue_stop_worker": (_hr, [_p]),
    "xferq_queue_set_time_slice": (_hr, [_p, ctypes.c_uint32]),
    "xferq_queue_time_slice": (_hr, [_p, ctypes.POINTER(ctypes.c_uint32)]),
    "xferq_queue_set_callbacks": (_hr, [_p, ctypes.POINTER(_Callbacks), _p]),
    "xferq_queue_create_job": (_hr, [_p, ctypes.c_char_p, ctypes.POINTER(_p)]),
    "xferq_queue_create_job_of_type": (_hr, [_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(_p)]),
    "xferq_job_set_reply_file_name": (_hr, [_p, ctypes.c_char_p]),
    "xferq_queue_get_job": (_hr, [_p, ctypes.c_char_p, ctypes.POINTER(_p)]),
    "xferq_queue_job_ids": (_hr, [_p, ctypes.c_int, ctypes.POINTER(_IdArray), _sz,
                                  ctypes.POINTER(_sz)]),
    "xferq_job_release": (None, [_p]),
    "xferq_job_id": (ctypes.c_char_p, [_p]),
    "xferq_job_add_file": (_hr, [_p, ctypes.c_char_p, ctypes.c_char_p]),
    "xferq_job_add_files": (_hr, [_p, ctypes.POINTER(_FileSpec), _sz]),
    "xferq_job_suspend": (_hr, [_p]),
    "xferq_job_resume": (_hr, [_p]),
    "xferq_job_cancel": (_hr, [_p]),
    "xferq_job_complete": (_hr, [_p]),
    "xferq_job_state": (_hr, [_p, ctypes.POINTER(ctypes.c_int32)]),
    "xferq_job_progress": (_hr, [_p, ctypes.POINTER(_Progress)]),
    "xferq_job_times": (_hr, [_p, ctypes.POINTER(_Times)]),
    "xferq_job_error": (_hr, [_p, ctypes.POINTER(_ErrorInfo), ctypes.c_char_p, _sz,
                              ctypes.POINTER(_sz)]),
    "xferq_job_error_count": (_hr, [_p, ctypes.POINTER(ctypes.c_uint32)]),
    "xferq_job_files": (_hr, [_p, ctypes.POINTER(ctypes.POINTER(_FileInfo)), ctypes.POINTER(_sz)]),
    "xferq_free_files": (None, [ctypes.POINTER(_FileInfo)]),
    "xferq_job_priority": (_hr, [_p, ctypes.POINTER(ctypes.c_int32)]),
    "xferq_job_set_priority": (_hr, [_p, ctypes.c_int32]),
    "xferq_job_display_name": (_hr, [_p, ctypes.c_char_p, _sz, ctypes.POINTER(_sz)]),
    "xferq_job_set_display_name": (_hr, [_p, ctypes.c_char_p]),
    "xferq_job_description": (_hr, [_p, ctypes.c_char_p, _sz, ctypes.POINTER(_sz)]),
    "xferq_job_set_description": (_hr, [_p, ctypes.c_char_p]),
    "xferq_job_custom_headers": (_hr, [_p, ctypes.c_char_p, _sz, ctypes.POINTER(_sz)]),
    "xferq_job_set_custom_headers": (_hr, [_p, ctypes.c_char_p]),
    "xferq_job_security_flags": (_hr, [_p, ctypes.POINTER(ctypes.c_uint32)]),
    "xferq_job_set_credentials": (_hr, [_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_char_p, ctypes.c_char_p]),
    "xferq_job_remove_credentials": (_hr, [_p, ctypes.c_int32, ctypes.c_int32]),
    "xferq_job_set_proxy_settings": (_hr, [_p, ctypes.c_int32, ctypes.c_char_p, ctypes.c_char_p]),
    "xferq_job_set_security_flags": (_hr, [_p, ctypes.c_uint32]),
    "xferq_job_minimum_retry_delay": (_hr, [_p, ctypes.POINTER(ctypes.c_uint32)]),
    "xferq_job_set_minimum_retry_delay": (_hr, [_p, ctypes.c_uint32]),
    "xferq_job_no_progress_timeout": (_hr, [_p, ctypes.POINTER(ctypes.c_uint32)]),
    "xferq_job_set_no_progress_timeout": (_hr, [_p, ctypes.c_uint32]),
    "xferq_job_set_tls_options": (_hr, [_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                        ctypes.c_char_p]),
    "xferq_job_tls_option": (_hr, [_p, ctypes.c_int32, ctypes.c_char_p, _sz, ctypes.POINTER(_sz)]),
    "xferq_job_set_remote_name": (_hr, [_p, ctypes.c_uint32, ctypes.c_char_p]),
    "xferq_job_replace_remote_prefix": (_hr, [_p, ctypes.c_char_p, ctypes.c_char_p]),
    "xferq_job_max_download_size": (_hr, [_p, ctypes.POINTER(ctypes.c_uint64)]),
    "xferq_job_set_max_download_size": (_hr, [_p, ctypes.c_uint64]),
    "xferq_job_maximum_download_time": (_hr, [_p, ctypes.POINTER(ctypes.c_uint32)]),
    "xferq_job_set_maximum_download_time": (_hr, [_p, ctypes.c_uint32]),
    "xferq_job_file_response": (_hr, [_p, ctypes.c_uint32, ctypes.POINTER(ctypes.POINTER(_FileResponse))]),
    "xferq_free_file_response": (None, [ctypes.POINTER(_FileResponse)]),
    "xferq_job_add_file_with_integrity": (_hr, [_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int64,
                                                ctypes.c_char_p, ctypes.c_char_p]),
    "xferq_job_set_file_integrity": (_hr, [_p, ctypes.c_uint32, ctypes.c_int64, ctypes.c_char_p, ctypes.c_char_p]),
    "xferq_job_file_integrity": (_hr, [_p, ctypes.c_uint32, ctypes.POINTER(ctypes.c_int64), ctypes.c_char_p,
                                       ctypes.c_char_p]),
    "xferq_job_set_validation_state": (_hr, [_p, ctypes.c_uint32, ctypes.c_int]),
    "xferq_job_add_file_with_ranges": (_hr, [_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(_FileRange), _sz]),
    "xferq_job_file_ranges": (_hr, [_p, ctypes.c_uint32, ctypes.POINTER(_FileRange), _sz, ctypes.POINTER(_sz)]),
    # Bandwidth limits
    "xferq_queue_set_bandwidth_limit": (_hr, [_p, ctypes.c_int64]),
    "xferq_queue_bandwidth_limit": (_hr, [_p, ctypes.POINTER(ctypes.c_int64)]),
    "xferq_queue_set_priority_bandwidth_limit": (_hr, [_p, ctypes.c_int32, ctypes.c_int64]),
    "xferq_queue_priority_bandwidth_limit": (_hr, [_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_int64)]),
    "xferq_queue_set_bandwidth_schedule": (_hr, [_p, ctypes.POINTER(_BandwidthWindow), _sz]),
    "xferq_queue_bandwidth_schedule": (_hr, [_p, ctypes.POINTER(_BandwidthWindow), _sz, ctypes.POINTER(_sz)]),
    "xferq_job_bandwidth_limit": (_hr, [_p, ctypes.POINTER(ctypes.c_int64)]),
    "xferq_job_set_bandwidth_limit": (_hr, [_p, ctypes.c_int64]),
    "xferq_queue_set_progress_callbacks": (_hr, [_p, ctypes.POINTER(_ProgressCallbacks), _p]),
    "xferq_job_set_notify_command_line": (_hr, [_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), _sz]),
    "xferq_job_notify_command_line": (_hr, [_p, ctypes.c_char_p, _sz, ctypes.POINTER(_sz), ctypes.POINTER(_sz)]),
}


def _candidates() -> Iterator[str]:
    env = os.environ.get("XFERQ_LIBRARY")
    if env:
        yield env
        return  # an explicit choice: no fallback that could hide a mistake
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("libxferq.so", "libxferq.so.0"):
        yield os.path.join(here, name)
    repo = os.path.normpath(os.path.join(here, "..", "..", ".."))
    for preset in ("dev", "release", "asan", "tsan"):
        yield os.path.join(repo, "build", preset, "bindings", "c", "libxferq.so")
    found = ctypes.util.find_library("xferq")
    yield found or "libxferq.so.0"


def _load() -> Tuple[ctypes.CDLL, str]:
    errors = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            errors.append(f"{path}: no such file")
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            errors.append(f"{path}: {e}")
            continue
        for name, (restype, argtypes) in _PROTOTYPES.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        return lib, path
    raise ImportError("xferq: cannot load libxferq.so (set XFERQ_LIBRARY to its path); tried:\n  "
                      + "\n  ".join(errors))


_lib, library_path = _load()


def hresult_name(hresult: int) -> str:
    """The symbolic name of an HRESULT ("DO_E_INVALID_STATE", "BG_E_HTTP_ERROR_404")."""
    return _lib.xferq_hresult_name(hresult & 0xFFFFFFFF).decode()


def hresult_message(hresult: int) -> str:
    """A short English description of an HRESULT."""
    return _lib.xferq_hresult_message(hresult & 0xFFFFFFFF).decode()


def _failed(hr: int) -> bool:
    return bool(hr & 0x80000000)


def _check(hr: int) -> int:
    if _failed(hr):
        raise XferqError(hresult_name(hr), hr, hresult_message(hr))
    return hr


def _utf8(s: "str | os.PathLike[str]") -> bytes:
    return os.fsencode(s) if isinstance(s, os.PathLike) else str(s).encode("utf-8")


def _get_string(fn, handle) -> str:
    required = _sz(0)
    hr = fn(handle, None, 0, ctypes.byref(required))
    while hr == _E_INSUFFICIENT_BUFFER:
        buf = ctypes.create_string_buffer(required.value)
        hr = fn(handle, buf, len(buf), ctypes.byref(required))
        if hr == S_OK:
            return buf.value.decode("utf-8")
    _check(hr)
    return ""


def _time(us: int) -> _dt.datetime:
    return _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(microseconds=us)


# -------------------------------------------------------------------- Job

class Job:
    """A handle on one transfer job (IBackgroundCopyJob). Cheap; every
    property reads the queue's database, so it is always current."""

    __slots__ = ("_h", "_id", "__weakref__")

    def __init__(self, handle: int):
        self._h = ctypes.c_void_p(handle)
        self._id = _lib.xferq_job_id(self._h).decode()

    def __del__(self):
        h, self._h = getattr(self, "_h", None), None
        if h and _lib is not None:
            _lib.xferq_job_release(h)

    def __repr__(self) -> str:
        try:
            state = self.state.name
        except XferqError as e:
            state = e.name
        return f"<xferq.Job {self._id} {state}>"

    def __eq__(self, other) -> bool:
        return isinstance(other, Job) and other._id == self._id

    def __hash__(self) -> int:
        return hash(self._id)

    @property
    def id(self) -> str:
        """The job's GUID, "{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}"."""
        return self._id

    # The job's life.
    def add_file(self, remote_url: str, local_path: "str | os.PathLike[str]", *, size: int = -1,
                 sha256: str = "", sha512: str = "") -> None:
        """Adds a file (http(s) URL, absolute local path); it appears at
        local_path only when complete() succeeds. size / sha256 / sha512 (hex):
        what the download must be, checked before it counts as transferred."""
        if size == -1 and not sha256 and not sha512:
            _check(_lib.xferq_job_add_file(self._h, _utf8(remote_url), _utf8(local_path)))
        else:
            _check(_lib.xferq_job_add_file_with_integrity(self._h, _utf8(remote_url), _utf8(local_path), size,
                                                          _utf8(sha256), _utf8(sha512)))

    def add_file_with_ranges(self, remote_url: str, local_path: "str | os.PathLike[str]",
                             ranges: Iterable[Tuple[int, int]]) -> None:
        """BITS's AddFileWithRanges: the (offset, length) ranges of remote_url
        (length LENGTH_TO_EOF: to its end), back-to-back in this order, make
        the local file. Downloads only."""
        pairs = [(int(o), int(n)) for o, n in ranges]
        arr = (_FileRange * max(len(pairs), 1))(*[_FileRange(o, n) for o, n in pairs])
        _check(_lib.xferq_job_add_file_with_ranges(self._h, _utf8(remote_url), _utf8(local_path), arr, len(pairs)))

    def _file_ranges(self, index: int) -> Tuple[Tuple[int, int], ...]:
        count = _sz(0)
        hr = _lib.xferq_job_file_ranges(self._h, index, None, 0, ctypes.byref(count))
        if hr == E_INVALIDARG:
            return ()
        if hr == _E_INSUFFICIENT_BUFFER:
            arr = (_FileRange * count.value)()
            hr = _lib.xferq_job_file_ranges(self._h, index, arr, count.value, ctypes.byref(count))
            _check(hr)
            return tuple((r.offset, r.length) for r in arr[:count.value])
        _check(hr)
        return ()

    def set_file_integrity(self, file_index: int, *, size: int = -1, sha256: str = "", sha512: str = "") -> None:
        """What file file_index must be, while it is not transferred (empty values clear)."""
        _check(_lib.xferq_job_set_file_integrity(self._h, file_index, size, _utf8(sha256), _utf8(sha512)))

    def set_validation_state(self, file_index: int, valid: bool) -> None:
        """BITS's SetValidationState: False rejects a transferred file (ERROR, bytes deleted)."""
        _check(_lib.xferq_job_set_validation_state(self._h, file_index, 1 if valid else 0))

    def set_reply_file_name(self, path: "str | os.PathLike[str]") -> None:
        """Upload-reply jobs: where complete() puts the server's reply."""
        _check(_lib.xferq_job_set_reply_file_name(self._h, _utf8(path)))

    def add_files(self, files: Iterable[Tuple[str, "str | os.PathLike[str]"]]) -> None:
        """Adds several (url, local_path) pairs atomically: all or none."""
        pairs = [(_utf8(u), _utf8(p)) for u, p in files]
        specs = (_FileSpec * len(pairs))(*[_FileSpec(u, p) for u, p in pairs])
        _check(_lib.xferq_job_add_files(self._h, specs, len(pairs)))

    def suspend(self) -> None:
        _check(_lib.xferq_job_suspend(self._h))

    def resume(self) -> None:
        _check(_lib.xferq_job_resume(self._h))

    def cancel(self) -> None:
        """CANCELLED; temp files are gone when this returns.
        DO_E_INVALID_STATE if already CANCELLED or ACKNOWLEDGED."""
        _check(_lib.xferq_job_cancel(self._h))

    def complete(self) -> CompleteStatus:
        """ACKNOWLEDGED; finished files renamed to their final paths.
        Returns CompleteStatus.ALL_FILES or CompleteStatus.PARTIAL."""
        return CompleteStatus(_check(_lib.xferq_job_complete(self._h)))

    # Snapshots.
    @property
    def state(self) -> State:
        v = ctypes.c_int32()
        _check(_lib.xferq_job_state(self._h, ctypes.byref(v)))
        return State(v.value)

    @property
    def progress(self) -> Progress:
        p = _Progress()
        _check(_lib.xferq_job_progress(self._h, ctypes.byref(p)))
        return Progress(p.bytes_total, p.bytes_transferred, p.files_total, p.files_transferred)

    @property
    def times(self) -> Times:
        t = _Times()
        _check(_lib.xferq_job_times(self._h, ctypes.byref(t)))
        done = _time(t.transfer_completion_us) if t.transfer_completion_us else None
        return Times(_time(t.creation_us), _time(t.modification_us), done)

    @property
    def error(self) -> Optional[JobError]:
        """The last error in ERROR / TRANSIENT_ERROR; None in other states."""
        info = _ErrorInfo()
        required = _sz(0)
        hr = _lib.xferq_job_error(self._h, ctypes.byref(info), None, 0, ctypes.byref(required))
        if hr == BG_E_ERROR_INFORMATION_UNAVAILABLE:
            return None
        _check(hr)
        buf = ctypes.create_string_buffer(required.value)
        hr = _lib.xferq_job_error(self._h, ctypes.byref(info), buf, len(buf), ctypes.byref(required))
        if hr == BG_E_ERROR_INFORMATION_UNAVAILABLE:
            return None
        _check(hr)
        return JobError(info.hresult, hresult_name(info.hresult), ErrorContext(info.context),
                        buf.value.decode("utf-8", "replace"),
                        None if info.file_index < 0 else info.file_index)

    @property
    def error_count(self) -> int:
        v = ctypes.c_uint32()
        _check(_lib.xferq_job_error_count(self._h, ctypes.byref(v)))
        return v.value

    @property
    def files(self) -> List[FileInfo]:
        arr = ctypes.POINTER(_FileInfo)()
        count = _sz(0)
        _check(_lib.xferq_job_files(self._h, ctypes.byref(arr), ctypes.byref(count)))
        try:
            base = [(f.remote_url.decode(), f.local_path.decode(), f.temp_path.decode(),
                     f.bytes_total, f.bytes_transferred, bool(f.completed))
                    for f in (arr[i] for i in range(count.value))]
        finally:
            _lib.xferq_free_files(arr)
        return [FileInfo(*b, *self._file_response(i), *self._file_integrity(i), ranges=self._file_ranges(i))
                for i, b in enumerate(base)]

    def _file_integrity(self, index: int) -> tuple:
        size = ctypes.c_int64()
        h256, h512 = ctypes.create_string_buffer(65), ctypes.create_string_buffer(129)
        hr = _lib.xferq_job_file_integrity(self._h, index, ctypes.byref(size), h256, h512)
        if hr == E_INVALIDARG:
            return ()
        _check(hr)
        return (size.value, h256.value.decode(), h512.value.decode())

    def _file_response(self, index: int) -> tuple:
        resp = ctypes.POINTER(_FileResponse)()
        hr = _lib.xferq_job_file_response(self._h, index, ctypes.byref(resp))
        if hr == E_INVALIDARG:  # the file went away between the two reads
            return ()
        _check(hr)
        try:
            r = resp.contents
            return (r.http_status,) + tuple(v.decode("utf-8", "replace") for v in (
                r.final_url, r.etag, r.last_modified, r.content_type, r.content_disposition))
        finally:
            _lib.xferq_free_file_response(resp)

    # Properties.
    @property
    def priority(self) -> Priority:
        v = ctypes.c_int32()
        _check(_lib.xferq_job_priority(self._h, ctypes.byref(v)))
        return Priority(v.value)

    @priority.setter
    def priority(self, value: int) -> None:
        _check(_lib.xferq_job_set_priority(self._h, int(value)))

    @property
    def display_name(self) -> str:
        return _get_string(_lib.xferq_job_display_name, self._h)

    @display_name.setter
    def display_name(self, value: str) -> None:
        _check(_lib.xferq_job_set_display_name(self._h, _utf8(value)))

    @property
    def description(self) -> str:
        return _get_string(_lib.xferq_job_description, self._h)

    @description.setter
    def description(self, value: str) -> None:
        _check(_lib.xferq_job_set_description(self._h, _utf8(value)))

    @property
    def custom_headers(self) -> list:
        """Extra HTTP request headers ("Name: value"), sent with every request of the job."""
        text = _get_string(_lib.xferq_job_custom_headers, self._h)
        return text.split("\n") if text else []

    @custom_headers.setter
    def custom_headers(self, headers) -> None:
        _check(_lib.xferq_job_set_custom_headers(self._h, _utf8("\n".join(headers))))

    def set_notify_command_line(self, program: "str | os.PathLike[str]", args=()) -> None:
        """The program (absolute path of an executable) started without a shell,
        with `args` as its arguments ("{job}" becomes the job's id), when the
        job reaches TRANSFERRED or ERROR (BITS's SetNotifyCmdLine). "" and no
        args removes it. Checked now: XferqError ERROR_FILE_NOT_FOUND,
        E_INVALIDARG, E_ACCESSDENIED or BG_E_STRING_TOO_LONG."""
        encoded = [_utf8(a) for a in args]
        array = (ctypes.c_char_p * max(len(encoded), 1))(*encoded)
        _check(_lib.xferq_job_set_notify_command_line(self._h, _utf8(program), array, len(encoded)))

    @property
    def notify_command_line(self) -> NotifyCommandLine:
        required, count = _sz(0), _sz(0)
        hr = _lib.xferq_job_notify_command_line(self._h, None, 0, ctypes.byref(required), ctypes.byref(count))
        while hr == _E_INSUFFICIENT_BUFFER:
            buf = ctypes.create_string_buffer(required.value)
            hr = _lib.xferq_job_notify_command_line(self._h, buf, len(buf), ctypes.byref(required),
                                                    ctypes.byref(count))
            if hr == S_OK:
                # program NUL arg NUL ... arg NUL
                parts = buf.raw[:required.value - 1].split(b"\0")
                return NotifyCommandLine(parts[0].decode("utf-8", "surrogateescape"),
                                         [a.decode("utf-8", "surrogateescape") for a in parts[1:]])
        _check(hr)
        return NotifyCommandLine("", [])

    def set_credentials(self, target: int, scheme: int, user: str, password: str) -> None:
        """Credentials for AUTH_TARGET_SERVER / _PROXY by AUTH_SCHEME_BASIC / _DIGEST / _BEARER
        (the token as password). Stored in the 0600 queue file, never shown."""
        _check(_lib.xferq_job_set_credentials(self._h, target, scheme, _utf8(user), _utf8(password)))

    def set_proxy_settings(self, usage: int, proxy_list: str = "", bypass_list: str = "") -> None:
        """PROXY_USAGE_PRECONFIG / _NO_PROXY / _OVERRIDE (the first proxy of proxy_list)."""
        _check(_lib.xferq_job_set_proxy_settings(self._h, usage, _utf8(proxy_list), _utf8(bypass_list)))

    def remove_credentials(self, target: int, scheme: int) -> None:
        _check(_lib.xferq_job_remove_credentials(self._h, target, scheme))

    @property
    def security_flags(self) -> int:
        """BITS's redirect flags: REDIRECT_POLICY_* | REDIRECT_ALLOW_HTTPS_TO_HTTP."""
        v = ctypes.c_uint32()
        _check(_lib.xferq_job_security_flags(self._h, ctypes.byref(v)))
        return v.value

    @security_flags.setter
    def security_flags(self, flags: int) -> None:
        _check(_lib.xferq_job_set_security_flags(self._h, flags))

    def set_tls_options(self, ca_bundle: str = "", ca_directory: str = "", client_certificate: str = "",
                        client_key: str = "", client_key_password: str = "") -> None:
        """CA bundle / directory and a PEM client certificate and key (absolute paths; "" for none).
        The passphrase is stored in the 0600 queue file and never read back."""
        _check(_lib.xferq_job_set_tls_options(self._h, _utf8(ca_bundle), _utf8(ca_directory),
                                              _utf8(client_certificate), _utf8(client_key),
                                              _utf8(client_key_password)))

    @property
    def tls_options(self) -> dict:
        """The TLS options as set, without the passphrase (has_client_key_password says if one is stored)."""
        names = ["ca_bundle", "ca_directory", "client_certificate", "client_key", "has_client_key_password"]
        out = {n: _get_string(lambda h, b, n_, r, i=i: _lib.xferq_job_tls_option(h, i, b, n_, r), self._h)
               for i, n in enumerate(names)}
        out["has_client_key_password"] = out["has_client_key_password"] == "1"
        return out

    def set_remote_name(self, file_index: int, url: str) -> None:
        """A new URL for a download's file; the bytes fetched are kept (If-Range guards the resume)."""
        _check(_lib.xferq_job_set_remote_name(self._h, file_index, _utf8(url)))

    def replace_remote_prefix(self, old_prefix: str, new_prefix: str) -> None:
        """Every file URL starting with old_prefix gets new_prefix instead (all or none)."""
        _check(_lib.xferq_job_replace_remote_prefix(self._h, _utf8(old_prefix), _utf8(new_prefix)))

    @property
    def max_download_size(self) -> int:
        """The most bytes the job may download in all; 0 is no limit."""
        v = ctypes.c_uint64()
        _check(_lib.xferq_job_max_download_size(self._h, ctypes.byref(v)))
        return v.value

    @max_download_size.setter
    def max_download_size(self, size: int) -> None:
        _check(_lib.xferq_job_set_max_download_size(self._h, int(size)))

    @property
    def maximum_download_time(self) -> int:
        """Seconds the job may spend CONNECTING and TRANSFERRING (default 90 days); 0 sets the default."""
        v = ctypes.c_uint32()
        _check(_lib.xferq_job_maximum_download_time(self._h, ctypes.byref(v)))
        return v.value

    @maximum_download_time.setter
    def maximum_download_time(self, seconds: int) -> None:
        _check(_lib.xferq_job_set_maximum_download_time(self._h, int(seconds)))

    @property
    def bandwidth_limit(self) -> int:
        """The job's own bandwidth limit in bytes per second; 0 is none. A
        running transfer follows a change within a second."""
        v = ctypes.c_int64()
        _check(_lib.xferq_job_bandwidth_limit(self._h, ctypes.byref(v)))
        return v.value

    @bandwidth_limit.setter
    def bandwidth_limit(self, bytes_per_sec: int) -> None:
        _check(_lib.xferq_job_set_bandwidth_limit(self._h, int(bytes_per_sec)))

    @property
    def minimum_retry_delay(self) -> int:
        """Seconds to wait in TRANSIENT_ERROR before retrying."""
        v = ctypes.c_uint32()
        _check(_lib.xferq_job_minimum_retry_delay(self._h, ctypes.byref(v)))
        return v.value

    @minimum_retry_delay.setter
    def minimum_retry_delay(self, seconds: int) -> None:
        _check(_lib.xferq_job_set_minimum_retry_delay(self._h, int(seconds)))

    @property
    def no_progress_timeout(self) -> int:
        """Seconds without progress before a transient error becomes fatal."""
        v = ctypes.c_uint32()
        _check(_lib.xferq_job_no_progress_timeout(self._h, ctypes.byref(v)))
        return v.value

    @no_progress_timeout.setter
    def no_progress_timeout(self, seconds: int) -> None:
        _check(_lib.xferq_job_set_no_progress_timeout(self._h, int(seconds)))


# ------------------------------------------------------------------ Queue

class Queue:
    """A persistent queue of transfer jobs in one SQLite file.

    Opening starts the worker thread (start_worker=False to only inspect or
    control a queue). Use it as a context manager, or call close(). Iterating
    gives the active jobs in creation order.
    """

    def __init__(self, path: "str | os.PathLike[str]", *, start_worker: bool = True,
                 max_concurrent_transfers: int = 4, progress_interval: float = 0.5,
                 poll_interval: float = 0.02, busy_timeout: float = 10.0,
                 synchronous_full: bool = False, minimum_retry_delay_floor: int = 5,
                 stall_timeout: int = 60, verify_tls: bool = True,
                 user_agent: Optional[str] = None, time_slice: Optional[float] = None):
        o = _QueueOptions()
        _lib.xferq_queue_options_init(ctypes.byref(o))
        o.start_worker = int(bool(start_worker))
        o.max_concurrent_transfers = int(max_concurrent_transfers)
        o.progress_interval_ms = int(progress_interval * 1000)
        o.poll_interval_ms = int(poll_interval * 1000)
        o.busy_timeout_ms = int(busy_timeout * 1000)
        o.synchronous_full = int(bool(synchronous_full))
        o.minimum_retry_delay_floor_s = int(minimum_retry_delay_floor)
        o.stall_timeout_s = int(stall_timeout)
        o.verify_tls = int(bool(verify_tls))
        o.user_agent = _utf8(user_agent) if user_agent is not None else None
        self._lock = threading.Lock()
        self._callbacks = None  # keeps the ctypes thunks alive
        h = _p()
        _check(_lib.xferq_queue_open(_utf8(path), ctypes.byref(o), ctypes.byref(h)))
        self._h = h
        self.path = os.fspath(path)
        if time_slice is not None:
            try:
                self.time_slice = time_slice
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        """Stops the worker and releases the queue. Idempotent. Job objects
        stay usable (they keep the database open) but nothing transfers."""
        lock = getattr(self, "_lock", None)
        if lock is None:  # __init__ failed early
            return
        with lock:
            h, self._h = getattr(self, "_h", None), None
        if h and _lib is not None:
            _lib.xferq_queue_close(h)
        self._callbacks = None

    def __del__(self):
        self.close()

    def __enter__(self) -> "Queue":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _handle(self):
        h = self._h
        if not h:
            raise ValueError("the xferq queue is closed")
        return h

    @property
    def closed(self) -> bool:
        return not self._h

    def start_worker(self) -> None:
        _check(_lib.xferq_queue_start_worker(self._handle()))

    def stop_worker(self) -> None:
        _check(_lib.xferq_queue_stop_worker(self._handle()))

    @property
    def time_slice(self) -> float:
        """Seconds a job keeps its transfer slot while a job of its priority
        waits (round robin; 0: no time slices; default 300). A job of a
        better priority preempts a worse one regardless. Not persisted."""
        v = ctypes.c_uint32()
        _check(_lib.xferq_queue_time_slice(self._handle(), ctypes.byref(v)))
        return v.value / 1000

    @time_slice.setter
    def time_slice(self, seconds: float) -> None:
        ms = round(seconds * 1000)
        if not 0 <= ms <= 0xFFFFFFFF:
            raise ValueError("time_slice must be between 0 and 4294967.295 seconds")
        _check(_lib.xferq_queue_set_time_slice(self._handle(), ms))

    def create_job(self, display_name: str, job_type: JobType = JobType.DOWNLOAD) -> Job:
        """A new job, SUSPENDED: a download, or an upload (one existing local
        file sent with the BITS upload protocol)."""
        out = _p()
        _check(_lib.xferq_queue_create_job_of_type(self._handle(), _utf8(display_name), int(job_type),
                                                   ctypes.byref(out)))
        return Job(out.value)

    def get_job(self, job_id: str) -> Job:
        """The job with that id; XferqError BG_E_NOT_FOUND if none."""
        out = _p()
        _check(_lib.xferq_queue_get_job(self._handle(), _utf8(job_id), ctypes.byref(out)))
        return Job(out.value)

    def job_ids(self, include_final: bool = False) -> List[str]:
        count = _sz(0)
        capacity = 16
        while True:
            ids = (_IdArray * capacity)()
            hr = _lib.xferq_queue_job_ids(self._handle(), int(include_final), ids, capacity,
                                          ctypes.byref(count))
            if hr != _E_INSUFFICIENT_BUFFER:
                break
            capacity = max(count.value, capacity * 2)
        _check(hr)
        return [ids[i].value.decode() for i in range(count.value)]

    def jobs(self, include_final: bool = False) -> List[Job]:
        """Jobs in creation order: active ones, or all with include_final.
        A job that vanishes between listing and opening is skipped."""
        out = []
        for job_id in self.job_ids(include_final):
            try:
                out.append(self.get_job(job_id))
            except XferqError as e:
                if e.hresult != BG_E_NOT_FOUND:
                    raise
        return out

    def __iter__(self) -> Iterator[Job]:
        return iter(self.jobs())

    # Bandwidth limits (bytes per second, 0 = none), stored in the queue file
    # for every process; the serving worker applies a change within a second.
    @property
    def bandwidth_limit(self) -> int:
        """The queue-wide limit outside the schedule's windows, shared by all
        running transfers but FOREGROUND ones."""
        v = ctypes.c_int64()
        _check(_lib.xferq_queue_bandwidth_limit(self._handle(), ctypes.byref(v)))
        return v.value

    @bandwidth_limit.setter
    def bandwidth_limit(self, bytes_per_sec: int) -> None:
        _check(_lib.xferq_queue_set_bandwidth_limit(self._handle(), int(bytes_per_sec)))

    def priority_bandwidth_limit(self, priority: "Priority") -> int:
        """The cap on each transfer of `priority` (FOREGROUND included)."""
        v = ctypes.c_int64()
        _check(_lib.xferq_queue_priority_bandwidth_limit(self._handle(), int(priority), ctypes.byref(v)))
        return v.value

    def set_priority_bandwidth_limit(self, priority: "Priority", bytes_per_sec: int) -> None:
        _check(_lib.xferq_queue_set_priority_bandwidth_limit(self._handle(), int(priority), int(bytes_per_sec)))

    @property
    def bandwidth_schedule(self) -> List[BandwidthWindow]:
        """The schedule's windows, in order (the first covering the hour wins)."""
        count = _sz(0)
        capacity = 8
        while True:
            arr = (_BandwidthWindow * capacity)()
            hr = _lib.xferq_queue_bandwidth_schedule(self._handle(), arr, capacity, ctypes.byref(count))
            if hr != _E_INSUFFICIENT_BUFFER:
                break
            capacity = max(count.value, capacity * 2)
        _check(hr)
        return [BandwidthWindow(arr[i].days, arr[i].start_hour, arr[i].end_hour, arr[i].bytes_per_sec)
                for i in range(count.value)]

    @bandwidth_schedule.setter
    def bandwidth_schedule(self, windows) -> None:
        ws = [BandwidthWindow(*w) for w in windows]
        arr = (_BandwidthWindow * max(1, len(ws)))()
        for i, w in enumerate(ws):
            if not 0 <= int(w.days) <= 255:
                _check(E_INVALIDARG)  # c_uint8 would silently wrap it
            arr[i] = _BandwidthWindow(int(w.days), int(w.start_hour), int(w.end_hour), int(w.bytes_per_sec))
        _check(_lib.xferq_queue_set_bandwidth_schedule(self._handle(), arr, len(ws)))

    def set_callbacks(self, transferred: Optional[Callable[[str], None]] = None,
                      error: Optional[Callable[[str, JobError], None]] = None,
                      modified: Optional[Callable[[str], None]] = None) -> None:
        """Registers callbacks (replacing earlier ones; none removes them).
        They run on the worker thread for transfer events and must be short;
        exceptions they raise are reported and ignored."""
        def event(fn):
            if fn is None:
                return _EventFn()
            return _EventFn(lambda _user, job_id: fn(job_id.decode()))

        def on_error(_user, job_id, info, description):
            e = info.contents
            error(job_id.decode(), JobError(e.hresult, hresult_name(e.hresult), ErrorContext(e.context),
                                            description.decode("utf-8", "replace"),
                                            None if e.file_index < 0 else e.file_index))

        cbs = _Callbacks(event(transferred), _ErrorFn(on_error) if error else _ErrorFn(),
                         event(modified))
        _check(_lib.xferq_queue_set_callbacks(self._handle(), ctypes.byref(cbs), None))
        # The old thunks may still be running on the worker: keep them too
        # until the queue is closed.
        self._callbacks = (cbs, self._callbacks)

    def set_progress_callbacks(self, file_transferred: Optional[Callable[[str, int], None]] = None,
                               progress: Optional[Callable[[str, Progress], None]] = None,
                               interval: float = 0.5, percent: int = 0) -> None:
        """Registers file_transferred(job_id, file_index) (each file once, in
        order) and progress(job_id, Progress), the latter at least `interval`
        seconds apart per job and, with percent 1..100, only when the bytes
        crossed another multiple of that many percent; plus one call when the
        job reaches TRANSFERRED. Replaces earlier ones; the callbacks of
        set_callbacks() stay. Worker thread; keep them short."""
        def on_file(_user, job_id, index):
            file_transferred(job_id.decode(), index)

        def on_progress(_user, job_id, p):
            v = p.contents
            progress(job_id.decode(), Progress(v.bytes_total, v.bytes_transferred, v.files_total,
                                               v.files_transferred))

        cbs = _ProgressCallbacks(_FileEventFn(on_file) if file_transferred else _FileEventFn(),
                                 _ProgressFn(on_progress) if progress else _ProgressFn(),
                                 int(interval * 1000), int(percent))
        _check(_lib.xferq_queue_set_progress_callbacks(self._handle(), ctypes.byref(cbs), None))
        # As in set_callbacks(): old thunks may still run; keep them.
        self._callbacks = (cbs, self._callbacks)

    def __repr__(self) -> str:
        return f"<xferq.Queue {self.path!r}{' closed' if self.closed else ''}>"
