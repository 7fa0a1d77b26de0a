#!/usr/bin/env python3
"""Runs the malformed-input cases of cases.py against the tessera binary.

  tests/bad_inputs/run.py TESSERA KEY [-k SUBSTRING] [-j JOBS] [--show]

Each case runs in a scratch directory of its own, on a copy of a small store loaded
beforehand, with TMPDIR inside the scratch directory. A case passes when:
  - the exit status is the expected one (README: 0 success, 1 error, 2 usage or invalid input);
  - the expected reason (a substring, with file:line:column where a row has them) is in stderr;
  - no canary identifier of the inputs (cases.CANARIES, in UTF-8 and UTF-16) is in stdout,
    stderr or any file the command left in the scratch directory: the rejects file, the summary
    JSON, the store's files (their bytes), temporary files;
  - the store still works: `status` and `segments` succeed on it, and it holds the orders it
    held before plus the case's good rows (a failed load stores nothing).
Every failing case is reported by name with what differed; --show prints each case's outcome
(to write or review an expectation). Cases the machine cannot run (no setpriv, no
/dev/full) are reported as skipped with the reason.
"""
import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases as case_table  # noqa: E402

AS_OF = "2024-12-31"


def needles():
    out = []
    for canary in case_table.CANARIES:
        for variant in {canary, canary.lower(), canary.upper()}:
            out.append(variant.encode())
            out.append(variant.encode("utf-16-le"))
            out.append(variant.encode("utf-16-be"))
    return out


NEEDLES = needles()


def leaks(data):
    return [n for n in NEEDLES if n in data]


def run(cmd, cwd, env, stdin=None, stdout_path=None, timeout=60, as_nobody=False):
    if as_nobody:
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"] + cmd
    out_file = open(stdout_path, "wb") if stdout_path else None
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, input=stdin,
                           stdout=out_file or subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
    finally:
        if out_file:
            out_file.close()
    return p.returncode, (p.stdout or b""), p.stderr


def stored_orders(tessera, cwd, env, store="store.db"):
    rc, out, err = run([tessera, "status", "--store", store], cwd, env)
    if rc != 0:
        return None, err.decode(errors="replace")
    m = re.search(rb"^  orders +(\d+)", out, re.M)
    return (int(m.group(1)) if m else None), out.decode(errors="replace")


def run_case(case, tessera, key, base, base_orders, root):
    """Returns (name, problems, skipped_reason, summary)."""
    skip = case.skip_reason()
    if skip:
        return case.name, [], skip, ""
    work = os.path.join(root, case.name)
    os.makedirs(os.path.join(work, "tmp"))
    for name, content in case.files.items():
        path = os.path.join(work, name)
        if content is None:
            os.makedirs(path)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
    for f in os.listdir(base):
        shutil.copy(os.path.join(base, f), os.path.join(work, f.replace("base.db", "store.db")))
    shutil.copy(key, os.path.join(work, "owner.key"))
    os.chmod(os.path.join(work, "owner.key"), 0o600)
    if case.setup:
        case.setup(work)
    env = dict(os.environ, TESSERA_KEY=os.path.join(work, "owner.key"),
               TESSERA_STORE=os.path.join(work, "store.db"), TMPDIR=os.path.join(work, "tmp"),
               LC_ALL="C")
    env.pop("TESSERA_TEST_KILL_AFTER_BATCHES", None)
    inputs = {os.path.join(work, n) for n in case.files}

    rc, out, err = run([tessera] + case.args, work, env, stdin=case.stdin,
                       stdout_path=case.stdout, as_nobody=case.as_nobody)
    problems = []
    text = err.decode(errors="replace")
    if rc != case.rc:
        problems.append(f"exit status {rc}, expected {case.rc}")
    if case.reason and case.reason not in text:
        problems.append(f"reason {case.reason!r} not in stderr")
    if rc < 0 or "Sanitizer" in text:
        problems.append("crashed")
    found = leaks(out) + leaks(err)
    if found:
        problems.append(f"canary {found[0]!r} in the command's output")
    for dirpath, _, filenames in os.walk(work):
        for fn in filenames:
            path = os.path.join(dirpath, fn)
            if path in inputs or os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                found = leaks(f.read())
            if found:
                problems.append(f"canary {found[0]!r} in {os.path.relpath(path, work)}")
    left = os.listdir(os.path.join(work, "tmp"))
    if left:
        problems.append(f"temporary files left: {left}")
    if case.check_store:
        after, status = stored_orders(tessera, work, env)
        if after is None:
            problems.append(f"the store does not work afterwards: {status.strip()}")
        elif after - base_orders != case.orders:
            problems.append(f"{after - base_orders} orders stored, expected {case.orders}")
        seg_rc, _, seg_err = run([tessera, "segments", "--as-of", AS_OF, "--format", "json"],
                                 work, env)
        if seg_rc != 0:
            problems.append(f"segments fails afterwards: {seg_err.decode(errors='replace')}")
    summary = f"rc={rc} " + " | ".join(l for l in text.splitlines()[:4])
    return case.name, problems, None, summary


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tessera")
    ap.add_argument("key")
    ap.add_argument("-k", default="", help="run only cases whose name contains this")
    ap.add_argument("-j", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--show", action="store_true", help="print every case's outcome")
    args = ap.parse_args()
    tessera = os.path.abspath(args.tessera)
    selected = [c for c in case_table.CASES if args.k in c.name]
    names = [c.name for c in case_table.CASES]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        print(f"duplicate case names: {sorted(dupes)}")
        return 1

    start = time.monotonic()
    root = tempfile.mkdtemp(prefix="tessera-bad-inputs.")
    os.chmod(root, 0o755)  # cases run as nobody (unreadable files) must reach their directory
    try:
        base = os.path.join(root, "base")
        os.makedirs(base)
        key = os.path.join(root, "owner.key")
        shutil.copy(args.key, key)
        os.chmod(key, 0o600)
        env = dict(os.environ, TESSERA_KEY=key, LC_ALL="C")
        with open(os.path.join(base, "orders.csv"), "wb") as f:
            f.write(case_table.BASE_ORDERS)
        rc, _, err = run([tessera, "ingest", "orders.csv", "--store", "base.db", "-q"], base, env)
        if rc != 0:
            print(f"cannot load the base store: {err.decode(errors='replace')}")
            return 1
        os.remove(os.path.join(base, "orders.csv"))
        base_orders, status = stored_orders(tessera, base, env, "base.db")
        if base_orders is None:
            print(f"the base store does not work: {status}")
            return 1
        failed, skipped = [], []
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.j) as pool:
            futures = [pool.submit(run_case, c, tessera, key, base, base_orders, root) for c in selected]
            for fut in futures:
                name, problems, skip, summary = fut.result()
                if skip:
                    skipped.append(name)
                    print(f"SKIP {name}: {skip}")
                elif problems:
                    failed.append(name)
                    print(f"FAIL {name}: " + "; ".join(problems))
                    print(f"     {summary}")
                elif args.show:
                    print(f"ok   {name}: {summary}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ran = len(selected) - len(skipped)
    print(f"{ran - len(failed)} of {ran} bad-input cases passed, {len(skipped)} skipped, "
          f"{time.monotonic() - start:.1f} s")
    if failed:
        print("failed: " + " ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
