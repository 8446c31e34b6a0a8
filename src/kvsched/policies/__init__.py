"""Scheduling policies (one registry). Importing this package registers them all."""

from .base import Policy, order_victims
from .registry import build_policy, get_policy_class, list_policies, register_policy
from . import admission, algorithm1, geometric, protection, robust, sagesched, sorted_f, vllm  # noqa: F401  (register)

__all__ = ["Policy", "order_victims", "build_policy", "get_policy_class", "list_policies", "register_policy"]
