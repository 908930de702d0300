"""VM rescheduling across PMs and NUMA nodes (the VMR2L problem): snapshots and their formats, the
arrivals/departures generator, the simulator, ``schedgym/VMReschedule-v0``, the validator."""

from ..domain import Domain, EnvEntry, Gallery

DOMAIN = Domain(
    name="vm",
    title="VM rescheduling across PMs and NUMA nodes to cut the fragment rate (VMR2L)",
    env_ids={
        "schedgym/VMReschedule-v0": EnvEntry(
            "schedgym.envs.vm.env:VMRescheduleEnv",
            kwargs={"preset": "small", "mnl": 10},
            summary="pick a migratable VM (or stop), then its destination NUMA node; up to MNL migrations "
                    "to minimise the fragment rate",
        ),
    },
    policies="schedgym.agents.vm",
    suites=("vm-small", "vm-medium", "vm-mnl-sweep"),
    bench="schedgym.agents.vm.bench:bench_rows",  # env rows (envs/vm/bench.py) + heuristics' timing
    references=None,
    docs="docs/vm.md",
    gallery=Gallery(
        "schedgym/VMReschedule-v0", "vm-slot", "schedgym.envs.vm.render:env_figure",
        env_kwargs={"preset": "small", "mnl": 10},
        seed=0, caption="slot heuristic on a seeded 20-PM snapshot, up to 10 migrations",
    ),
)

__all__ = ["DOMAIN"]
