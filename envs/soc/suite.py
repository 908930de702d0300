"""Evaluation-suite hooks of the ``soc-*`` suites: cases and reference values.

* ``soc-single-jobs``: one job of each DS3 application, alone on a 16-PE SoC (makespan; gap to the
  CP-SAT optimum);
* ``soc-streaming``: the WiFi TX/RX mix streaming into ``ds3_16pe_head`` at four injection rates, from
  light load to saturation, at three noise levels (mean job latency, p95, throughput);
* ``soc-random-dags``: Topcuoglu random DAGs (30 tasks, 4 processors) at three CCR x three beta;
* ``soc-topcuoglu``: the 10-task example of Topcuoglu et al. 2002 on its 3 processors.

References are CP-SAT results on the expected-time model (``schedgym.agents.soc.exact``, 2 workers),
proven optimal unless said otherwise; reproduce them with ``soc-cpsat`` on the same cases.
"""

from __future__ import annotations

from typing import Any

#: (soc, application) -> (makespan in µs, proven optimal): CP-SAT on one job at time 0, no noise
SINGLE_JOB_REFERENCE: dict[tuple[str, str], tuple[float, bool]] = {
    ("ds3_16pe_head", "wifi_tx"): (69.0, True),
    ("ds3_16pe_head", "wifi_rx"): (288.0, True),
    ("ds3_16pe_head", "range_detection"): (176.0, True),
    ("ds3_16pe_head", "sc_tx"): (56.0, True),
    ("ds3_16pe_head", "sc_rx"): (153.0, True),
    ("ds3_16pe_head", "temporal_mitigation"): (79.0, True),
    ("ds3_16pe_paper", "wifi_tx"): (69.0, True),
    ("ds3_16pe_paper", "wifi_rx"): (288.0, True),
    ("ds3_16pe_paper", "range_detection"): (176.0, True),
    ("ds3_16pe_paper", "sc_tx"): (1429.0, True),
    ("ds3_16pe_paper", "sc_rx"): (2807.0, True),
    # 451 tasks: CP-SAT's best in 60 s with a HEFT hint (HEFT: 284); its bound was 225 (load balancing)
    ("ds3_16pe_paper", "pulse_doppler"): (277.0, False),
    ("topcuoglu_3p", "topcuoglu"): (73.0, True),
}
_SOURCE = "CP-SAT on the expected-time model (schedgym soc-cpsat)"

SINGLE_JOB_APPS: dict[str, tuple[str, ...]] = {
    "ds3_16pe_head": ("wifi_tx", "wifi_rx", "range_detection", "sc_tx", "sc_rx", "temporal_mitigation"),
    "ds3_16pe_paper": ("wifi_tx", "wifi_rx", "range_detection", "sc_tx", "sc_rx", "pulse_doppler"),
}
#: mean inter-arrival times (µs) of the streaming suite: 2.5, 5, 8, 11.1 and 14.3 jobs/ms, from light load
#: to near saturation of ds3_16pe_head by the WiFi mix (ETF's mean latency: 200, 215, 250, 350, 780 µs)
STREAM_INTERARRIVALS: tuple[float, ...] = (400.0, 200.0, 125.0, 90.0, 70.0)
STREAM_NOISE: tuple[float, ...] = (0.0, 0.2, 0.4)
RANDOM_DAG_CCR: tuple[float, ...] = (0.1, 1.0, 5.0)
RANDOM_DAG_BETA: tuple[float, ...] = (0.1, 0.5, 1.0)


def single_job_cases() -> list[dict[str, Any]]:
    """One job of each application on each SoC that supports it; the group is the SoC."""
    return [
        {"name": app, "group": soc, "env_kwargs": {"soc": soc, "jobs": [app], "reward": "makespan"}}
        for soc, apps in SINGLE_JOB_APPS.items()
        for app in apps
    ]


def rate_name(mean_interarrival_us: float) -> str:
    return f"{1000.0 / mean_interarrival_us:.1f} jobs/ms"


def streaming_cases() -> list[dict[str, Any]]:
    """The WiFi mix at every rate x noise level; the group is the noise level."""
    return [
        {"name": rate_name(ia), "group": f"noise={noise:g}",
         "env_kwargs": {"mean_interarrival_us": ia, "noise": noise}}
        for noise in STREAM_NOISE
        for ia in STREAM_INTERARRIVALS
    ]


def random_dag_cases() -> list[dict[str, Any]]:
    """Topcuoglu random DAGs at every CCR x beta; the group is the CCR."""
    return [
        {"name": f"beta={beta:g}", "group": f"ccr={ccr:g}",
         "env_kwargs": {"random_dag": {"n_tasks": 30, "n_pes": 4, "ccr": ccr, "beta": beta, "alpha": 1.0,
                                       "out_degree": 2}}}
        for ccr in RANDOM_DAG_CCR
        for beta in RANDOM_DAG_BETA
    ]


def reference(case: dict[str, Any]) -> dict[str, Any] | None:
    """The CP-SAT makespan of a single-job case without noise (None otherwise)."""
    kw = case.get("env_kwargs") or {}
    jobs = kw.get("jobs")
    if not jobs or len(jobs) != 1 or float(kw.get("noise", 0.0) or 0.0) > 0 or kw.get("random_dag"):
        return None
    key = (str(kw.get("soc", "ds3_16pe_head")), str(jobs[0]))
    if key not in SINGLE_JOB_REFERENCE:
        return None
    value, optimal = SINGLE_JOB_REFERENCE[key]
    return {"value": value, "source": f"{'optimum' if optimal else 'best found, not proven optimal'}; {_SOURCE}"}
