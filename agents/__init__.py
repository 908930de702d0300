"""Policies: every baseline, exact solver and trained agent behind one protocol."""

from .base import BasePolicy, EpisodeResult, Policy, RandomPolicy, run_episode
from .registry import make_policy, policy_factories

__all__ = ["BasePolicy", "EpisodeResult", "Policy", "RandomPolicy", "make_policy", "policy_factories", "run_episode"]
