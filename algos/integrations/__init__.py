"""Thin adapters that put the envs and the zoo inside the engines researchers scale with.

- :mod:`algos.integrations.verl` (``pip install mmsearch-gym[verl]``): a verl agent loop over any
  env, the zoo's advantage estimators and policy loss in verl's registries, a v1 trainer mode
  that brings the episodes' fatal turns to them.
- :mod:`algos.integrations.trl` (``[trl]``): an ``environment_factory`` for TRL's
  ``GRPOTrainer`` and a ``GRPOTrainer`` that trains with ``algos.make(...)``.
- :mod:`algos.integrations.ray` (``[ray]``): env pools of Ray actors for the rollout engine and
  the verl loop.

Each module imports its engine lazily; nothing in ``mmsearch_gym`` or the zoo imports them.
An adapter translates: the env, its reward and the algorithm stay the package's own.
"""
