"""Writing files so that nothing is ever half-written: the one "temporary file, then rename"
used for every file the project writes (duty files, the roster, reports, invite sheets,
exported feeds)."""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class OutsideFolder(PermissionError):
    """A file name that would lead out of the folder it is written into (an id "../../x")."""


def inside(directory: Path, name: str) -> Path:
    """`directory / name`, checked to stay inside `directory` once every "..", absolute part
    and symlink is resolved: writers build names from roster ids, and one such id must
    never place a live invite code elsewhere. Raises OutsideFolder (a PermissionError)."""
    folder = directory.resolve()
    path = (folder / name).resolve()
    if path.parent != folder:
        raise OutsideFolder(errno.EACCES, f"refusing to write {name!r} outside the folder {directory}",
                            str(folder / name))
    return path


@contextmanager
def staged(path: Path, *, mode: int | None = None, exclusive: bool = False, commit: bool = True) -> Iterator[Path]:
    """A temporary file beside `path` for the block to write (and check). When the block ends
    without an exception, the file becomes `path` in one step; otherwise it is removed.

    `mode`: the file's permissions (None: the umask decides, as for any new file; 0o600 for
    secrets). `exclusive`: never replace an existing `path` (FileExistsError instead).
    `commit=False`: check only (a dry run); the temporary file is removed either way."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode)
    os.close(fd)
    try:
        if mode is not None:
            os.chmod(temp, mode)  # whatever the umask
        yield temp
        if not commit:
            return
        with open(temp, "rb+") as handle:  # on disk before it takes the real name
            os.fsync(handle.fileno())
        if exclusive:
            try:
                os.link(temp, path)  # atomic, and fails rather than replace an existing file
            except FileExistsError:
                raise
            except OSError:  # a file system without hard links
                if path.exists():
                    raise FileExistsError(path) from None
                os.replace(temp, path)
        else:
            os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes, *, mode: int | None = None, exclusive: bool = False) -> None:
    """`data` into `path` all at once (see `staged`)."""
    with staged(path, mode=mode, exclusive=exclusive) as temp:
        temp.write_bytes(data)
