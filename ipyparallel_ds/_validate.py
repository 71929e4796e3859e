"""Checks of option values: each raises :class:`ValueError` with a message that names the bad
value; the magic turns it into IPython's ``UsageError`` and the Python API lets it through.
"""

from __future__ import annotations

from pathlib import Path

from . import _options, backends

SAVE_SUFFIXES = (".png", ".svg", ".pdf", ".json", ".csv")


def _as_list(value: object, message: str) -> list:
    """``list(value)``, or ValueError(message) when the value is not iterable."""
    try:
        return list(value)  # type: ignore[call-overload]
    except TypeError:
        raise ValueError(message) from None


def parse_n_jobs(value: object) -> tuple[int, ...]:
    """Validate n_jobs values given as ``"1,2,-1"``, an int or a sequence of ints.

    Raises
    ------
    ValueError
        Naming the bad value: empty lists or items, non-integers, 0, booleans, duplicates.
    """
    if isinstance(value, str):
        text = value.strip()
        if not text or text in ("''", '""'):
            raise ValueError(f"-j/--n-jobs needs a comma-separated list of integers, got {value!r}")
        items: list[object] = []
        for part in text.split(","):
            part = part.strip()
            if not part:
                raise ValueError(f"-j/--n-jobs has an empty item in {value!r}")
            try:
                items.append(int(part))
            except ValueError:
                raise ValueError(
                    f"-j/--n-jobs values must be whole numbers like 1,2,-1; got {part!r} "
                    f"in {value!r}"
                ) from None
    elif isinstance(value, int) and not isinstance(value, bool):
        items = [value]
    else:
        items = _as_list(
            value,
            f"n_jobs must be an int, a sequence of ints or a string like '1,2'; got {value!r}",
        )
        if not items:
            raise ValueError("n_jobs must name at least one value, got an empty sequence")
    result: list[int] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int):
            raise ValueError(f"n_jobs values must be integers, got {item!r}")
        if item == 0:
            raise ValueError(
                "n_jobs=0 is not valid: use a positive count, or -1 for every usable core"
            )
        if item in result:
            raise ValueError(f"n_jobs value {item} is given twice")
        result.append(item)
    return tuple(result)


def parse_predict(value: object) -> tuple[int, ...]:
    """Validate the worker counts to predict, ``"4,8,16,64"``, an int or a sequence of ints:
    whole numbers of at least 1, each once, returned in increasing order."""
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",")]
        if not value.strip() or any(not part for part in parts):
            raise ValueError(
                f"--predict needs comma-separated worker counts like 4,8,16; got {value!r}"
            )
        items: list[object] = []
        for part in parts:
            try:
                items.append(int(part))
            except ValueError:
                raise ValueError(
                    f"--predict worker counts must be whole numbers like 4,8,16; got {part!r} "
                    f"in {value!r}"
                ) from None
    elif isinstance(value, int) and not isinstance(value, bool):
        items = [value]
    else:
        items = _as_list(value, f"predict must be an int or a list of ints; got {value!r}")
        if not items:
            raise ValueError("predict must name at least one worker count, got an empty list")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or item < 1:
            raise ValueError(f"--predict worker counts must be at least 1, got {item!r}")
    if len(set(items)) != len(items):
        raise ValueError(f"--predict names a worker count twice in {value!r}")
    return tuple(sorted(items))  # type: ignore[arg-type]


def parse_count(name: str, value: object, minimum: int) -> int:
    """Validate a whole-number option such as ``-n`` or ``-r`` (``name`` is used in messages)."""
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            raise ValueError(f"{name} needs a whole number, got {value!r}") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise ValueError(f"{name} needs a whole number, got {value!r}")
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {number}")
    return number


def parse_save_path(value: str) -> str:
    """Check that a ``--save`` path has an extension we can write."""
    if Path(value).suffix.lower() not in SAVE_SUFFIXES:
        raise ValueError(
            f"--save needs a file name ending in {', '.join(SAVE_SUFFIXES)}; got {value!r}"
        )
    return value


_SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_max_memory(value: object) -> tuple[str, float]:
    """``"80%"`` -> ("share", 0.8); ``"4G"`` or ``4e9`` -> ("bytes", 4294967296.0).

    Raises
    ------
    ValueError
        Naming the bad value.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"--max-memory must be positive, got {value!r}")
        return ("bytes", float(value))
    text = str(value).strip().upper()
    try:
        if text.endswith("%"):
            share = float(text[:-1]) / 100.0
            if not 0 < share <= 1:
                raise ValueError
            return ("share", share)
        number, unit = text.rstrip("IB"), ""
        if number and number[-1] in "KMGT":
            number, unit = number[:-1], number[-1]
        size = float(number) * _SIZE_UNITS[unit]
        if size <= 0:
            raise ValueError
        return ("bytes", size)
    except (ValueError, KeyError):
        raise ValueError(
            f"--max-memory takes a percentage (1%-100%) or a size like 4G or 500M; got {value!r}"
        ) from None


def parse_inner_threads(value: object) -> int | str:
    """``"auto"`` or a whole number of threads, at least 1."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    return parse_count("--inner-threads", value, minimum=1)


def parse_backends(value: object) -> tuple[str, ...]:
    """Validate backends given as ``"loky,threading"`` or a sequence of names.

    Raises
    ------
    ValueError
        Naming the bad value: unknown backends, empty items, duplicates.
    """
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    else:
        items = _as_list(
            value,
            f"backend must be a name or a sequence of names like 'loky,threading'; got {value!r}",
        )
    if not items:
        raise ValueError("-b/--backend needs at least one backend")
    names: list[str] = []
    for item in items:
        if not isinstance(item, str) or not item:
            raise ValueError(f"-b/--backend has an empty or invalid item in {value!r}")
        name = item.lower()
        if name not in backends.REGISTRY:
            raise ValueError(
                f"unknown backend {item!r} in -b/--backend: choose from "
                f"{', '.join(backends.REGISTRY)}"
            )
        if name in names:
            raise ValueError(f"backend {item!r} is given twice in -b/--backend")
        names.append(name)
    return tuple(names)


def parse_seconds(flag: str, value: object) -> float:
    """A positive, finite number of seconds, for the option ``flag`` (``--timeout``)."""
    try:
        seconds = float(value.strip() if isinstance(value, str) else value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{flag} needs a number of seconds, got {value!r}") from None
    if isinstance(value, bool) or not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"{flag} must be a positive number of seconds, got {value!r}")
    return seconds


def check_cluster_options(
    chosen: tuple[str, ...], cluster: object = None, **connect: object
) -> None:
    """Check that cluster options fit the backends, and that each cluster backend's package is
    installed (without importing it). ``connect`` holds the options that reach a running
    cluster (the backends' ``connect_options``: ``scheduler=``, ``address=``, ...), None when
    not given. Raises ValueError naming the problem."""
    import importlib.util

    unknown = sorted(set(connect) - set(backends.connect_options()))
    if unknown:
        raise TypeError(f"unknown cluster option(s): {', '.join(unknown)}")
    if cluster is not None and cluster != "local":
        raise ValueError(
            f"--cluster takes 'local' (a cluster started on this machine), got {cluster!r}; "
            f"for a running cluster use {_options.running_clusters()}"
        )
    every = [runner for runner in backends.REGISTRY.values() if runner.is_cluster]
    for runner in every:
        runner.check_connect(connect)
    clusters = [backends.REGISTRY[b] for b in chosen if backends.REGISTRY[b].is_cluster]
    if not clusters:
        given = {"cluster": cluster, **connect}
        extra = [f"--{name.replace('_', '-')}" for name, v in given.items() if v is not None]
        if extra:
            raise ValueError(
                f"{', '.join(extra)} only applies to --backend "
                f"{_options.either(backends.names(clusters=True))} "
                f"(backends asked: {', '.join(chosen) or 'loky'})"
            )
        return
    for runner in every:
        asked = any(connect.get(name) is not None for name in runner.connect_options)
        if asked and runner not in clusters:
            raise ValueError(runner.connect_hint)
    for runner in clusters:
        _check_cluster(runner, cluster, connect)
        module, extra = runner.requires
        if importlib.util.find_spec(module) is None:
            raise ValueError(
                f"the {runner.name} backend needs the {module} package, which is not "
                f"installed: pip install '{extra}'"
            )


def _check_cluster(
    runner: type[backends.Runner], cluster: object, connect: dict[str, object]
) -> None:
    """One asked cluster backend: a cluster to start, or a running one, not both."""
    existing = next((connect[n] for n in runner.connect_options if connect.get(n)), None)
    if cluster is not None and existing is not None:
        raise ValueError(
            f"--cluster local and {_options.connect_flags(runner)} contradict each other for "
            f"the {runner.name} backend: choose one"
        )
    if cluster is None and existing is None:
        raise ValueError(
            f"the {runner.name} backend needs a cluster: --cluster local to start one on "
            f"this machine, or {runner.connect_example} for a running one"
        )


def parse_data(value: object) -> tuple[str, ...]:
    """The names of the arrays a data-size sweep cuts (``--data X,y``): Python identifiers,
    each once."""
    items = value.split(",") if isinstance(value, str) else _as_list(value, "")
    names = [str(item).strip() for item in items] if items else []
    for name in names:
        if not name.isidentifier():
            raise ValueError(f"--data needs names of arrays such as X,y; got {value!r}")
    if not names or len(set(names)) != len(names):
        raise ValueError(f"--data needs names of arrays such as X,y, each once; got {value!r}")
    return tuple(names)


def parse_sizes(value: object) -> tuple[float | int, ...]:
    """Data sizes (``--sizes 0.1,0.3,1``): a fraction of the rows in (0, 1] (``1`` is every
    row), or a row count above 1; returned as floats and ints, in the order given."""
    items = value.split(",") if isinstance(value, str) else _as_list(value, "")
    sizes: list[float | int] = []
    for item in items:
        text = str(item).strip()
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"--sizes needs fractions or row counts, got {text!r}") from None
        if not number > 0 or number == float("inf"):
            raise ValueError(f"--sizes must be above 0, got {text!r}")
        if number > 1 and not number.is_integer():
            raise ValueError(f"--sizes: {text!r} is a fraction above 1 (fractions are 0 to 1)")
        sizes.append(number if number <= 1 else int(number))
    if not sizes:
        raise ValueError(f"--sizes needs at least one size, got {value!r}")
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"--sizes gives a size twice: {value!r}")
    return tuple(sizes)
