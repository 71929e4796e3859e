"""The options of ``%parcompare``: one table for the parser, the validation and the help text.

Validation raises :class:`ValueError` with a message that names the bad value; the magic turns
it into IPython's ``UsageError`` and the Python API lets it through.
"""

from __future__ import annotations

# With -r unset, timed rounds go on until the speedup's 95 % interval is within
# +/- TARGET_PRECISION of it, between MIN_ROUNDS and MAX_ROUNDS rounds. MAX_ROUNDS keeps the
# serial calls of a default n_jobs 1,2 sweep (first call + rounds: 6) well below the 8 that a
# hand-written `%timeit` (calibration call + 7 runs) makes, so that even on a noisy machine,
# where every round is needed, the sweep takes less time than that loop.
MIN_ROUNDS = 3
MAX_ROUNDS = 5
TARGET_PRECISION = 0.05
# Timed runs of a baseline that cannot be interleaved (it needs workers itself).
DEFAULT_REPEAT = 5
DEFAULT_PRECISION = 3
DEFAULT_MAX_MEMORY = "80%"
# joblib backends %parcompare can compare; the cluster ones need an optional extra.
LOCAL_BACKENDS = ("loky", "threading", "multiprocessing")
CLUSTER_BACKENDS = ("dask", "ipyparallel")
BACKENDS = LOCAL_BACKENDS + CLUSTER_BACKENDS
# The backend name of the serial baseline shared by several backends.
SERIAL = "sequential"
# backend -> (module it needs, the extra that installs it)
BACKEND_EXTRAS = {
    "dask": ("distributed", "ipyparallel-ds[dask]"),
    "ipyparallel": ("ipyparallel", "ipyparallel-ds[ipyparallel]"),
}
# A call on a cluster gets this many times the serial baseline's call, at least the minimum.
TIMEOUT_FACTOR = 10
MIN_TIMEOUT = 60.0


class Option:
    """One command-line style option of ``%parcompare``.

    A plain class rather than a dataclass: this module is imported by ``%load_ext``, which
    must stay cheap.
    """

    __slots__ = ("help", "long", "metavar", "short")

    def __init__(self, short: str | None, long: str | None, metavar: str | None, help: str) -> None:
        self.short = short
        self.long = long
        self.metavar = metavar
        self.help = help

    @property
    def takes_value(self) -> bool:
        return self.metavar is not None

    @property
    def key(self) -> str:
        """The name parsed options are stored under: the short letter, else the long name."""
        return self.short or self.long  # type: ignore[return-value]

    @property
    def flags(self) -> str:
        names = "/".join(
            name
            for name in (self.short and f"-{self.short}", self.long and f"--{self.long}")
            if name
        )
        return f"{names} {self.metavar}" if self.metavar else names


OPTIONS: tuple[Option, ...] = (
    Option(
        "j",
        "n-jobs",
        "LIST",
        "Comma-separated n_jobs values to compare, e.g. 1,2,4,-1 (-1 means every usable "
        "core, -2 all but one). Default: 1, 2, 4, ... doubling up to and including the "
        "usable core count.",
    ),
    Option(
        "b",
        "backend",
        "LIST",
        f"Comma-separated joblib backends to compare: {', '.join(BACKENDS)}. n_jobs=1 runs "
        "once, as the serial baseline every backend is compared with. dask and ipyparallel "
        "need --cluster local, or --scheduler (dask) / --profile, --cluster-id (ipyparallel) "
        "for a running cluster; their size is the number of cluster workers. Default: "
        "joblib's active backend (loky).",
    ),
    Option(
        None,
        "cluster",
        "local",
        "Start a cluster on 127.0.0.1 for the dask or ipyparallel backend, scale it to each "
        "-j value (the number of workers; -1 is every usable core), and stop it afterwards.",
    ),
    Option(
        None,
        "scheduler",
        "ADDRESS",
        "Address of a running dask scheduler (tcp://host:8786) for --backend dask; the "
        "cluster is measured at its size.",
    ),
    Option(
        None,
        "profile",
        "NAME",
        "IPython profile of a running ipyparallel cluster (ipcluster start --profile NAME) for "
        "--backend ipyparallel; each -j value up to its engine count is measured.",
    ),
    Option(
        None,
        "cluster-id",
        "ID",
        "Cluster id of a running ipyparallel cluster (ipcluster start --cluster-id ID).",
    ),
    Option(
        None,
        "timeout",
        "SECONDS",
        "Deadline of each call on a dask or ipyparallel cluster; a call that misses it is "
        "stopped, its tasks are cancelled and that backend's remaining sizes are skipped. "
        f"Default: {TIMEOUT_FACTOR} times the serial call, at least {MIN_TIMEOUT:.0f} s.",
    ),
    Option(
        "n",
        None,
        "N",
        "Loops per timed run, as in %timeit. Default (or 0): chosen per n_jobs so that one "
        "run lasts at least 0.2 s.",
    ),
    Option(
        "r",
        None,
        "R",
        "Timed runs per n_jobs value, as in %timeit. Default: as many as needed for the "
        f"speedup's 95 % interval to be within ±{TARGET_PRECISION:.0%}, from {MIN_ROUNDS} to "
        f"{MAX_ROUNDS}.",
    ),
    Option(
        "p",
        None,
        "P",
        f"Significant digits of the times shown. Default: {DEFAULT_PRECISION}.",
    ),
    Option("q", None, None, "Quiet: show nothing (no progress, table or chart)."),
    Option("o", None, None, "Return the ParCompareResult (like %timeit -o)."),
    Option(
        None,
        "no-widget",
        None,
        "In Jupyter, show the chart as a static PNG instead of the interactive widget.",
    ),
    Option(
        None,
        "memory",
        None,
        "Sample the memory of the kernel and its workers (Σ PSS on Linux) during the timed "
        "runs. Default: on when sampling costs under 5 % of the machine.",
    ),
    Option(None, "no-memory", None, "Do not sample memory."),
    Option(
        None,
        "max-memory",
        "LIMIT",
        "Skip an n_jobs value whose estimated peak memory (kernel plus workers) exceeds "
        "LIMIT: a percentage of the memory available to them, or a size like 4G or 500M "
        "(binary units). The estimate needs memory sampling (--memory, or automatic). "
        f"Default: {DEFAULT_MAX_MEMORY}.",
    ),
    Option(
        None,
        "check",
        None,
        "Check that every n_jobs value gives the same result as the baseline. Default: on "
        "when the statement ends with an expression.",
    ),
    Option(None, "no-check", None, "Do not compare results."),
    Option(
        None,
        "inner-threads",
        "N",
        "BLAS/OpenMP threads for every loky worker and for the kernel during the run (N, or auto: "
        "usable cores divided by the most workers asked), restored afterwards. Default: "
        "joblib's own choice.",
    ),
    Option(
        None,
        "save",
        "PATH",
        "Also save the chart (.png, .svg, .pdf) or the data (.json, .csv), by extension.",
    ),
)

SAVE_SUFFIXES = (".png", ".svg", ".pdf", ".json", ".csv")


def getopt_spec() -> tuple[str, list[str]]:
    """Short and long option specs for :func:`getopt.getopt`."""
    short = "".join(o.short + (":" if o.takes_value else "") for o in OPTIONS if o.short)
    long = [o.long + ("=" if o.takes_value else "") for o in OPTIONS if o.long]
    return short, long


def canonical_name(flag: str) -> str:
    """Map ``-j`` or ``--n-jobs`` to the option's key (see :attr:`Option.key`)."""
    name = flag.lstrip("-")
    for option in OPTIONS:
        if name in (option.short, option.long):
            return option.key
    raise ValueError(f"unknown option {flag!r}")


def options_help() -> str:
    """The options as an indented block, for docstrings and ``--help``."""
    lines = []
    for option in OPTIONS:
        lines.append(f"  {option.flags}")
        lines.append(f"      {option.help}")
    return "\n".join(lines)


def switch(options: dict[str, str], name: str) -> bool | None:
    """``--name`` -> True, ``--no-name`` -> False, neither -> None (automatic)."""
    if name in options and f"no-{name}" in options:
        raise ValueError(f"--{name} and --no-{name} contradict each other")
    if name in options:
        return True
    return False if f"no-{name}" in options else None


def plan_arguments(options: dict[str, str]) -> dict[str, object]:
    """Keyword arguments of ``Plan.from_options`` from parsed options, keyed as
    :attr:`Option.key`: the one translation shared by the magic and the command line."""
    return {
        "n_jobs": options.get("j"),
        "number": options.get("n", 0),
        "repeat": options.get("r"),
        "memory": switch(options, "memory"),
        "max_memory": options.get("max-memory", DEFAULT_MAX_MEMORY),
        "check": switch(options, "check"),
        "inner_threads": options.get("inner-threads"),
        "backend": options.get("b"),
        "cluster": options.get("cluster"),
        "scheduler": options.get("scheduler"),
        "profile": options.get("profile"),
        "cluster_id": options.get("cluster-id"),
        "timeout": options.get("timeout"),
    }


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
    from pathlib import Path

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
        if name not in BACKENDS:
            raise ValueError(
                f"unknown backend {item!r} in -b/--backend: choose from {', '.join(BACKENDS)}"
            )
        if name in names:
            raise ValueError(f"backend {item!r} is given twice in -b/--backend")
        names.append(name)
    return tuple(names)


def parse_timeout(value: object) -> float:
    """A positive number of seconds."""
    try:
        seconds = float(value.strip() if isinstance(value, str) else value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"--timeout needs a number of seconds, got {value!r}") from None
    if isinstance(value, bool) or not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"--timeout must be a positive number of seconds, got {value!r}")
    return seconds


def check_cluster_options(
    backends: tuple[str, ...],
    cluster: object = None,
    scheduler: object = None,
    profile: object = None,
    cluster_id: object = None,
) -> None:
    """Check that cluster options fit the backends, and that each cluster backend's package is
    installed (without importing it). Raises ValueError naming the problem."""
    import importlib.util

    if cluster is not None and cluster != "local":
        raise ValueError(
            f"--cluster takes 'local' (a cluster started on 127.0.0.1), got {cluster!r}; "
            "for a running cluster use --scheduler (dask) or --profile/--cluster-id "
            "(ipyparallel)"
        )
    if scheduler is not None and (not isinstance(scheduler, str) or "://" not in scheduler):
        raise ValueError(
            f"--scheduler needs an address like tcp://127.0.0.1:8786, got {scheduler!r}"
        )
    chosen = [b for b in backends if b in CLUSTER_BACKENDS]
    given = {
        "--cluster": cluster,
        "--scheduler": scheduler,
        "--profile": profile,
        "--cluster-id": cluster_id,
    }
    if not chosen:
        extra = [name for name, v in given.items() if v is not None]
        if extra:
            raise ValueError(
                f"{', '.join(extra)} only applies to --backend dask or ipyparallel "
                f"(backends asked: {', '.join(backends) or 'loky'})"
            )
        return
    if scheduler is not None and "dask" not in chosen:
        raise ValueError("--scheduler is the address of a dask scheduler: add --backend dask")
    if (profile is not None or cluster_id is not None) and "ipyparallel" not in chosen:
        raise ValueError(
            "--profile and --cluster-id find an ipyparallel cluster: add --backend ipyparallel"
        )
    for name in chosen:
        existing = scheduler if name == "dask" else (profile or cluster_id)
        if cluster is not None and existing is not None:
            raise ValueError(
                f"--cluster local and {'--scheduler' if name == 'dask' else '--profile'} "
                f"contradict each other for the {name} backend: choose one"
            )
        if cluster is None and existing is None:
            how = "--scheduler tcp://HOST:8786" if name == "dask" else "--profile NAME"
            raise ValueError(
                f"the {name} backend needs a cluster: --cluster local to start one on this "
                f"machine, or {how} for a running one"
            )
        module, extra = BACKEND_EXTRAS[name]
        if importlib.util.find_spec(module) is None:
            raise ValueError(
                f"the {name} backend needs the {module} package, which is not installed: "
                f"pip install '{extra}'"
            )
