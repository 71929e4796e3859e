"""The options of ``%parcompare``: one table for the magic's parser, the command line and the
help text. Their values are checked by :mod:`ipyparallel_ds._validate`.
"""

from __future__ import annotations

from . import backends

# With -r unset, timed rounds of a value stop once the decision is settled: its speedup's
# 95 % interval is within +/- TARGET_PRECISION of it, or lies below 1 or below an earlier
# value's interval; between MIN_ROUNDS and MAX_ROUNDS warm runs. A default n_jobs 1,2 sweep
# of a one-loop statement then makes 6 to 12 calls, the first two included; a hand-written
# `%timeit -n1 -r5` loop makes 10.
MIN_ROUNDS = 2
MAX_ROUNDS = 5
TARGET_PRECISION = 0.08
# With --budget, an unsettled value goes on until its share of the budget is used, up to this.
MAX_BUDGET_ROUNDS = 50
# Timed runs of a baseline that cannot be interleaved (it needs workers itself).
DEFAULT_REPEAT = 5
DEFAULT_PRECISION = 3
DEFAULT_MAX_MEMORY = "80%"
# joblib backends %parcompare can compare (the registry's names); clusters need an extra.
BACKENDS = backends.names()
# A call on a cluster gets this many times the serial baseline's call, at least the minimum.
# A data-size sweep's sizes when --data is given alone: fractions of the rows.
DEFAULT_SIZES = "0.1,0.3,1"
TIMEOUT_FACTOR = 10
MIN_TIMEOUT = 60.0


def either(words) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    words = list(words)
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def connect_flags(runner: type[backends.Runner]) -> str:
    """How a cluster backend's connect options are written: ``--profile/--cluster-id``."""
    return "/".join(f"--{name.replace('_', '-')}" for name in runner.connect_options)


def running_clusters() -> str:
    """The options for a running cluster, from the registry: ``--scheduler (dask), ...``."""
    runners = backends.REGISTRY.values()
    return either(f"{connect_flags(r)} ({r.name})" for r in runners if r.connect_options)


# The cluster backends, as help texts name them: "dask, ipyparallel or ray".
CLUSTERS = either(backends.names(clusters=True))


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
        "once, as the serial baseline every backend is compared with. A cluster backend "
        f"({CLUSTERS}) needs --cluster local, or {running_clusters()} for a running cluster; "
        "its size is the number of cluster workers (Ray: CPUs). Default: joblib's active "
        "backend (loky).",
    ),
    Option(
        None,
        "cluster",
        "local",
        f"Start a cluster on this machine for the {CLUSTERS} backend (dask's and "
        "ipyparallel's listen on 127.0.0.1 only), size it to each -j value (the number of "
        "workers, or Ray's CPUs; -1 is every usable core), and stop it afterwards.",
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
        "address",
        "ADDRESS",
        "Address of a running Ray cluster (HOST:6379, as ray start --head prints it) for "
        "--backend ray; this machine must be one of its nodes, and RAY_AUTH_MODE=token set "
        "if the cluster uses Ray's token authentication. The cluster is measured at its "
        "size, its CPU count.",
    ),
    Option(
        None,
        "timeout",
        "SECONDS",
        f"Deadline of each call on a {CLUSTERS} cluster; a call that misses it is "
        "stopped, its tasks are cancelled and that backend's remaining sizes are skipped. "
        f"Default: {TIMEOUT_FACTOR} times the serial call, at least {MIN_TIMEOUT:.0f} s.",
    ),
    Option(
        None,
        "budget",
        "SECONDS",
        "Time for the whole sweep, first calls included: it ends within the budget plus at "
        "most one call. Each value gets its first call and at least one warm run; the "
        "verdict says the precision reached and what a larger budget would buy.",
    ),
    Option(
        None,
        "data",
        "NAMES",
        "Arrays to cut for a data-size sweep, e.g. X,y: each size of --sizes is measured at "
        "every n_jobs on the same rows, drawn once by a seeded shuffle (the arrays are never "
        "changed).",
    ),
    Option(
        None,
        "sizes",
        "SIZES",
        "Data sizes for --data: fractions of the rows (0.1,0.3,1) or row counts (100,1000). "
        f"Default: {DEFAULT_SIZES}.",
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
        "Timed runs per n_jobs value, as in %timeit. Default: as many as the decision needs, "
        f"from {MIN_ROUNDS} to {MAX_ROUNDS}: until the speedup's 95 % interval from this "
        f"session's runs is within ±{TARGET_PRECISION:.0%} of it, or lies below 1 or below "
        "another value's.",
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
        "predict",
        "LIST",
        "Comma-separated worker counts to predict from the measured tasks, e.g. 4,8,16,64 "
        "(on a machine with at least that many cores). Default: 1 to four times the usable "
        "cores.",
    ),
    Option(
        None,
        "save",
        "PATH",
        "Also save the chart (.png, .svg, .pdf) or the data (.json, .csv), by extension.",
    ),
)


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
        "address": options.get("address"),
        "timeout": options.get("timeout"),
        "predict": options.get("predict"),
        "budget": options.get("budget"),
        "data": options.get("data"),
        "sizes": options.get("sizes"),
    }
