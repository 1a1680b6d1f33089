"""Platform differences between CPython and MicroPython (fsync, clocks, files), in one place."""

import errno
import os
import time

_HAS_FSYNC = hasattr(os, "fsync")


def fsync(f):
    """Push a file's written bytes to stable storage (MicroPython has no os.fsync: flush only)."""
    f.flush()
    if _HAS_FSYNC:
        os.fsync(f.fileno())


def fsync_dir(path):
    """Make a rename in directory `path` durable; a no-op where directories cannot be synced."""
    if not _HAS_FSYNC or not hasattr(os, "open"):
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # directories cannot be opened on this platform (Windows)
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno != errno.EINVAL:  # some file systems do not sync directories
            raise
    finally:
        os.close(fd)


def now():
    """Wall-clock time in seconds."""
    return time.time()


def monotonic_ms():
    """A millisecond clock that never jumps with the wall clock (wraps on MicroPython: use differences)."""
    if hasattr(time, "ticks_ms"):
        return time.ticks_ms()
    return int(time.monotonic() * 1000)


def exists(path):
    """True if `path` names an existing file or directory."""
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def remove(path):
    """Delete a file; a missing file is not an error."""
    try:
        os.remove(path)
    except OSError:
        if exists(path):
            raise


def rename(src, dst):
    """Rename `src` over `dst`, atomically where the file system can replace in place.

    Some MicroPython file systems (FAT) refuse to rename over an existing file: there
    `dst` is removed first, so for a moment only `src` exists (callers recover that case).
    """
    try:
        os.rename(src, dst)
    except OSError:
        if not exists(dst) or not exists(src):
            raise
        os.remove(dst)
        os.rename(src, dst)
