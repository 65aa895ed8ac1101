"""The checks the Python client tests share: run one, report it, and the tally at the end."""
import sys

results = []


def check(name, fn):
    try:
        fn()
        results.append(True)
        print(f"ok    {name}", flush=True)
    except Exception as e:  # a failed check is reported, and the others still run
        results.append(False)
        print(f"FAIL  {name}: {type(e).__name__}: {e}", flush=True)


def tally(label):
    """Prints `label: N passed, N failed` and exits non-zero when any check failed."""
    passed, failed = results.count(True), results.count(False)
    print(f"{label}: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
