"""Labeling runs: records in, one voted row per record out, and the ways of driving that
pipeline (in process, as a committee, in rounds, on a Ray cluster). Runs sit below
``commands``, ``api`` and ``cli`` and import none of them.

- ``local``: the async runner: concurrency, sample rounds, cache, re-ask, vote, rows, resume
  (records fed by ``feeding``, rows filled in by ``rows``, label distributions ``distribution``)
- ``retrying``: one retry policy (tenacity) for every backend's requests
- ``describe``: the model's one-line label descriptions and instruction rewrites (for ``tune``)
- ``committee``: a runner per prompt/model member, labeling functions beside them, one row
- ``labeling``: in-memory records through a runner, and what every labeling entry point shares
- ``labeler``: ``Labeler`` / ``alabel`` for lists, DataFrames and datasets, the model kept loaded
- ``bootstrap``: rounds of labeling whose confident labels become the next round's examples
- ``ray``: ``--runner ray``: stage partitions, Ray Data actors run the local runner, join
  (the work folder in ``ray_parts``, the actor and the cluster in ``ray_actor``)
"""
