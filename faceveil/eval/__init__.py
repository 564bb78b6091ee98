"""Evaluation of anonymization methods: metrics (metrics.py), image sources (sources.py), the runner
(runner.py), reports (report.py) and the `faceveil eval` command (cli.py). See docs/eval.md."""
