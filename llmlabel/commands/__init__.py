"""The commands after labeling, one module each: read a run's rows (and gold, input, task
files), call the pure logic in ``core`` and the writers in ``io``, and return a result that
``api`` and ``cli`` show. Commands import the runners in ``runs`` but never each other
(what two share, such as ``io.predictions`` and ``io.gold``, sits in ``io``), nor ``api`` or
``cli``; a command's own helper modules carry its name (``review_rows``, ``distill_student``).

- ``audit``: flag likely label errors in a gold set or few-shot pool from a run's votes
- ``calibrate``: pair predictions with gold, cross-fit a confidence map, write calib.json; check it
- ``compare``: label one gold sample per variant of a task, test the variants pairwise, report
- ``distill``: train a small student on a silver set, score it on gold, learning curves
- ``export``: select a silver set from predictions, join the input by id, write it with a card
- ``review``: choose uncertain records for people (Label Studio / Argilla) and merge their answers
- ``serve_check``: probe an OpenAI-compatible server's dialects, ``n``, logprobs and context
- ``tune``: search a task's prompt settings on a dev split, score the winner once on held-out
"""
