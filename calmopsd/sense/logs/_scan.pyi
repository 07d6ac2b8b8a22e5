"""The compiled JSON-lines scanner (``_scan.c``)."""

def scan_json(
    buf: bytes,
    stop: int,
    spec: tuple[
        tuple[tuple[bytes, ...], ...],
        bytes | None,
        bytes,
        tuple[bytes, ...],
        tuple[int, ...],
        tuple[bytes, ...],
        tuple[bytes, ...],
        tuple[int, ...],
        bool,
    ],
    /,
) -> tuple[dict[tuple[int, bytes | None], list[int]], list[int], list[int]]: ...
def scan_nginx(
    buf: bytes,
    stop: int,
    spec: tuple[
        tuple[tuple[int, bytes], ...],
        bool,
        tuple[int, int, int, int, int, int, int],
        tuple[bytes, ...],
        tuple[bytes, ...],
        tuple[int, ...],
    ],
    /,
) -> tuple[dict[tuple[int, bytes | None], list[int]], list[int], list[int]]: ...
