"""Memory mapping and static buffer allocation (mallocGame- and MiniMalloc-style): instances and file
formats, traced real-model programs, the simulator, the environment, the validator and the
address x time picture."""

from ..domain import Domain, EnvEntry, Gallery

DOMAIN = Domain(
    name="memory",
    title="ML buffers onto fast on-chip memory: mapping for program time, static allocation under a capacity",
    env_ids={
        "schedgym/MemoryMap-v0": EnvEntry(
            "schedgym.envs.memory.env:MemoryEnv",
            kwargs={"mode": "mapping"},
            summary="pick the next buffer to put in fast memory at its canonical offset, or stop; minimise program time",
        ),
        "schedgym/MemoryAlloc-v0": EnvEntry(
            "schedgym.envs.memory.env:MemoryEnv",
            kwargs={"mode": "allocation"},
            summary="pick the next buffer to place at its canonical offset; every buffer must fit under the capacity",
        ),
    },
    policies="schedgym.agents.memory",
    suites=("memory-models", "memory-minimalloc", "memory-synthetic-alloc", "memory-heldout"),
    bench="schedgym.envs.memory.bench:bench_rows",
    references="schedgym.envs.memory.suite:suite_reference",
    docs="docs/memory.md",
    gallery=Gallery(
        "schedgym/MemoryMap-v0", "mem-first-fit", "schedgym.envs.memory.render:env_figure",
        env_kwargs={"instance": "resnet18-b1", "capacity": 2 * 1024 * 1024},
        seed=0, caption="first-fit of ResNet-18 (batch 1) buffers into 2 MiB of fast memory",
    ),
)
