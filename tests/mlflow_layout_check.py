#!/usr/bin/python3
"""Independent checker of an MLflow file store ("mlruns") against /work/shared/MLFLOW.md.

Written from the spec alone (it knows nothing of formats/mlflowstore.c): checks the tree
file by file and prints one line per problem, then "OK: ..." or "FAIL: ...".

    /usr/bin/python3 tests/mlflow_layout_check.py [--armory] [--summary FILE] MLRUNS

Checks (section numbers of MLFLOW.md):
  A.1/A.2  .trash/ and 0/meta.yaml (Default) exist; only experiment dirs (and .trash, models)
           in the root; no temp files or dirs anywhere; reserved names respected.
  A.3      experiment meta.yaml: exactly the six keys, sorted, experiment_id == dir name,
           artifact_location == the dir's file:// URI (pathlib as_uri), lifecycle active,
           ints bare; names unique among active experiments.
  A.4      run meta.yaml: MLflow's 15 keys, sorted; run_id == run_uuid == dir name (32 hex);
           experiment_id == parent dir; status int 1..5, end_time int (terminal status) or
           null (RUNNING), start_time int <= end_time; artifact_uri == <run>/artifacts URI;
           legacy keys with their legacy values; tags: [].
  A.11     quoting: every string scalar quoted (single or double), integers unquoted, null
           bare; ASCII or valid UTF-8 without raw control characters; both quoted spellings
           parse (PyYAML) to the values the raw text claims.
  A.5/A.7  params/tags: valid keys (A.10), UTF-8 values, lengths <= 6000 / 5000 characters,
           no trailing newline; system tags mlflow.runName == run_name, mlflow.user,
           mlflow.source.name, mlflow.source.type == LOCAL; mlflow.parentRunId names a run
           of the same experiment that is itself top-level; chain names unique per parent.
  A.6      metrics: non-empty, every line "<int ms> <value> <int step>\\n" with single spaces,
           value spelled as Python's repr(float(value)) (nan, inf, -inf, 1e-05, 100.0).
  A.10     key rules: [A-Za-z0-9_.- /], normalized relative path, <= 250, no file/dir clash.
  B.5/B.6  with --armory: exports/NNNNN/NN/<file>, each sample with metadata.txt (JSON object
           with targets and predictions) and input.png (PNG signature); metrics/*.txt and
           metadata.txt byte-equal to json.dumps(json.loads(text), indent=2).
Exit status 0 = OK, 1 = problems, 2 = usage.
"""
import argparse
import json
import math
import os
import posixpath
import re
import sys
from pathlib import Path

import yaml

EXP_KEYS = ["artifact_location", "creation_time", "experiment_id", "last_update_time",
            "lifecycle_stage", "name"]
RUN_KEYS = ["artifact_uri", "end_time", "entry_point_name", "experiment_id", "lifecycle_stage",
            "run_id", "run_name", "run_uuid", "source_name", "source_type", "source_version",
            "start_time", "status", "tags", "user_id"]
INT_KEYS = {"creation_time", "last_update_time", "start_time", "end_time", "status",
            "source_type"}
KEY_RE = re.compile(r"^[A-Za-z0-9_.\- /]+$")
RUN_ID_RE = re.compile(r"^[0-9a-f]{32}$")
EXP_ID_RE = re.compile(r"^[0-9]+$")
METRIC_LINE_RE = re.compile(r"^(-?[0-9]+) (\S+) (-?[0-9]+)$")
EXPORT_RE = re.compile(r"^exports/([0-9]{5})/([0-9]{2})/([^/]+)$")
PNG_SIG = b"\x89PNG\r\n\x1a\n"
RESERVED_IN_EXP = {"tags", "datasets", "traces", "models"}


class Checker:
    def __init__(self, root, armory):
        self.root, self.armory = root, armory
        self.problems = []
        self.summary = {"experiments": {}}

    def bad(self, where, msg):
        self.problems.append(f"{where}: {msg}")

    # ---- meta.yaml ------------------------------------------------------------------------
    def meta(self, path, want_keys, where):
        """Parse a meta.yaml with the raw-text rules of A.11; returns the dict or None."""
        try:
            raw = path.read_bytes()
        except OSError as e:
            self.bad(where, f"cannot read {path.name}: {e}")
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self.bad(where, f"{path.name} is not UTF-8")
            return None
        if any(ord(c) < 32 and c not in "\n" for c in text) or "\x7f" in text:
            self.bad(where, f"{path.name} holds raw control characters")
        if not text.endswith("\n"):
            self.bad(where, f"{path.name} does not end with a newline")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            self.bad(where, f"{path.name} is not YAML: {e}")
            return None
        if not isinstance(data, dict):
            self.bad(where, f"{path.name} is not a mapping")
            return None
        lines = text.splitlines()
        keys = [ln.split(":", 1)[0] for ln in lines]
        if keys != want_keys:
            self.bad(where, f"{path.name} keys {keys} != {want_keys} (one line each, sorted)")
        for ln in lines:
            if ": " not in ln:
                self.bad(where, f"{path.name} line {ln!r} is not 'key: value'")
                continue
            key, val = ln.split(": ", 1)
            v = data.get(key)
            if key == "tags":
                if val != "[]":
                    self.bad(where, f"tags must be '[]', got {val!r}")
            elif val == "null":
                if v is not None or key != "end_time":
                    self.bad(where, f"{key}: null is only allowed for end_time")
            elif key in INT_KEYS:
                if not re.fullmatch(r"-?[0-9]+", val) or type(v) is not int:
                    self.bad(where, f"{key} must be a bare integer, got {val!r}")
            else:
                if not ((val.startswith('"') and val.endswith('"')) or
                        (val.startswith("'") and val.endswith("'"))) or len(val) < 2:
                    self.bad(where, f"{key} string value {val!r} is not quoted")
                if not isinstance(v, str):
                    self.bad(where, f"{key} parses as {type(v).__name__}, not a string")
        return data

    # ---- key files ------------------------------------------------------------------------
    def key_ok(self, kind, key, where):
        if not KEY_RE.match(key):
            self.bad(where, f"{kind} key {key!r} has characters outside [A-Za-z0-9_.- /]")
        if posixpath.normpath(key) != key or key.startswith(("/", "..")) or key == ".":
            self.bad(where, f"{kind} key {key!r} is not a normalized relative path")
        if len(key) > 250:
            self.bad(where, f"{kind} key longer than 250 characters")

    def key_files(self, folder, kind, where):
        out = {}
        if not folder.is_dir():
            self.bad(where, f"missing {folder.name}/ folder")
            return out
        for dp, dns, fns in os.walk(folder):
            for fn in fns:
                p = Path(dp) / fn
                key = p.relative_to(folder).as_posix()
                self.key_ok(kind, key, where)
                try:
                    out[key] = p.read_bytes().decode("utf-8")
                except UnicodeDecodeError:
                    self.bad(where, f"{kind} {key!r} is not UTF-8")
            for dn in dns:
                if not any((Path(dp) / dn).iterdir()):
                    self.bad(where, f"empty folder {kind}s/{dn}")
        return out

    def metrics(self, folder, where):
        out = {}
        for key, text in self.key_files(folder, "metric", where).items():
            if not text:
                self.bad(where, f"metric {key!r} is empty (MLflow: 'No data found')")
                continue
            if not text.endswith("\n"):
                self.bad(where, f"metric {key!r} does not end with a newline")
            hist = []
            for i, ln in enumerate(text.split("\n")[:-1], 1):
                m = METRIC_LINE_RE.match(ln)
                if not m:
                    self.bad(where, f"metric {key!r} line {i} {ln!r} is not '<ms> <value> <step>'")
                    continue
                tok = m.group(2)
                try:
                    val = float(tok)
                except ValueError:
                    self.bad(where, f"metric {key!r} line {i}: value {tok!r} is not a float")
                    continue
                if repr(val) != tok:
                    self.bad(where, f"metric {key!r} line {i}: value {tok!r} is not spelled as "
                                    f"Python's repr ({repr(val)!r})")
                hist.append((int(m.group(1)), val, int(m.group(3))))
            if hist:
                last = max(hist, key=lambda h: (h[2], h[0], h[1]))
                out[key] = {"latest": "nan" if math.isnan(last[1]) else last[1],
                            "n": len(hist)}
        return out

    # ---- runs -----------------------------------------------------------------------------
    def run(self, d, exp_id):
        where = f"run {exp_id}/{d.name}"
        if not RUN_ID_RE.match(d.name):
            self.bad(where, "run dir name is not 32 lowercase hex (uuid4 hex)")
        meta = self.meta(d / "meta.yaml", RUN_KEYS, where)
        if meta is None:
            return None
        for k in ("run_id", "run_uuid"):
            if meta.get(k) != d.name:
                self.bad(where, f"{k} {meta.get(k)!r} != dir name")
        if meta.get("experiment_id") != exp_id:
            self.bad(where, f"experiment_id {meta.get('experiment_id')!r} != {exp_id!r}")
        st, t0, t1 = meta.get("status"), meta.get("start_time"), meta.get("end_time")
        if st not in (1, 2, 3, 4, 5):
            self.bad(where, f"status {st!r} not in 1..5")
        if st in (3, 4, 5) and type(t1) is not int:
            self.bad(where, "terminal status needs an integer end_time")
        if st == 1 and t1 is not None:
            self.bad(where, "RUNNING run with an end_time")
        if type(t0) is int and type(t1) is int and t1 < t0:
            self.bad(where, "end_time before start_time")
        if type(t0) is int and not (10**11 < t0 < 10**14):
            self.bad(where, f"start_time {t0} does not look like epoch milliseconds")
        want_uri = (d / "artifacts").resolve().as_uri()
        if meta.get("artifact_uri") != want_uri:
            self.bad(where, f"artifact_uri {meta.get('artifact_uri')!r} != {want_uri!r}")
        for k, v in (("entry_point_name", ""), ("source_name", ""), ("source_version", ""),
                     ("source_type", 4), ("lifecycle_stage", "active")):
            if meta.get(k) != v:
                self.bad(where, f"{k} must be {v!r}, got {meta.get(k)!r}")
        if not isinstance(meta.get("user_id"), str):
            self.bad(where, "user_id must be a string")
        for sub in d.iterdir():
            if sub.name != "meta.yaml" and (not sub.is_dir() or sub.name not in
                                             ("metrics", "params", "tags", "artifacts",
                                              "inputs", "outputs")):
                self.bad(where, f"unexpected entry {sub.name!r} in the run dir")
        params = self.key_files(d / "params", "param", where)
        tags = self.key_files(d / "tags", "tag", where)
        metrics = self.metrics(d / "metrics", where)
        for k, v in params.items():
            if len(v) > 6000:
                self.bad(where, f"param {k!r} longer than 6000 characters ({len(v)})")
        for k, v in tags.items():
            if len(v) > 5000:
                self.bad(where, f"tag {k!r} longer than 5000 characters ({len(v)})")
            if v.endswith("\n"):
                self.bad(where, f"tag {k!r} ends with a newline")
        if tags.get("mlflow.runName") != meta.get("run_name"):
            self.bad(where, f"tag mlflow.runName {tags.get('mlflow.runName')!r} != run_name "
                            f"{meta.get('run_name')!r}")
        for k in ("mlflow.user", "mlflow.source.name"):
            if k not in tags:
                self.bad(where, f"missing tag {k}")
        if tags.get("mlflow.source.type") != "LOCAL":
            self.bad(where, "tag mlflow.source.type must be LOCAL")
        if tags.get("mlflow.user", meta.get("user_id")) != meta.get("user_id"):
            self.bad(where, "tag mlflow.user != user_id")
        arts = self.artifacts(d / "artifacts", where)
        return {"meta": meta, "params": params, "tags": tags, "metrics": metrics,
                "artifacts": arts}

    def artifacts(self, folder, where):
        files = {}
        if not folder.is_dir():
            self.bad(where, "missing artifacts/ folder")
            return files
        for dp, _, fns in os.walk(folder):
            for fn in fns:
                p = Path(dp) / fn
                files[p.relative_to(folder).as_posix()] = p
        if self.armory:
            self.armory_checks(files, where)
        return sorted(files)

    def armory_checks(self, files, where):
        samples = {}
        for rel, p in sorted(files.items()):
            m = EXPORT_RE.match(rel)
            if rel.startswith("exports/"):
                if not m:
                    self.bad(where, f"export {rel!r} is not exports/NNNNN/NN/<file>")
                    continue
                samples.setdefault((m.group(1), m.group(2)), set()).add(m.group(3))
            data = p.read_bytes()
            if rel.endswith(".png") and not data.startswith(PNG_SIG):
                self.bad(where, f"{rel} is not a PNG")
            if rel.endswith("/metadata.txt") or (rel.startswith("metrics/") and rel.endswith(".txt")):
                try:
                    obj = json.loads(data.decode("utf-8"))
                except ValueError as e:
                    self.bad(where, f"{rel} is not JSON: {e}")
                    continue
                if json.dumps(obj, indent=2).encode() != data:
                    self.bad(where, f"{rel} is not byte-equal to json.dump(indent=2) of its value")
                if rel.endswith("/metadata.txt"):
                    if not isinstance(obj, dict) or list(obj)[:2] != ["targets", "predictions"]:
                        self.bad(where, f"{rel}: must be an object starting with targets, predictions")
        for (b, s), names in sorted(samples.items()):
            for need in ("metadata.txt", "input.png"):
                if need not in names:
                    self.bad(where, f"exports/{b}/{s} lacks {need}")

    # ---- tree -----------------------------------------------------------------------------
    def check(self):
        root = self.root
        if not (root / ".trash").is_dir():
            self.bad("root", "missing .trash/")
        for dp, dns, fns in os.walk(root):
            for n in dns + fns:
                if ".tmp" in n or n.endswith("~"):
                    self.bad("root", f"temp entry {Path(dp, n).relative_to(root)} left in the store")
        for sib in root.parent.iterdir():
            if sib.name.startswith(root.name + ".tmp."):
                self.bad("root", f"staging directory {sib.name} left beside the store")
        names = {}
        for e in sorted(root.iterdir()):
            if e.name in (".trash", "models"):
                continue
            if not e.is_dir():
                continue  # files in the root are ignored by MLflow
            where = f"experiment {e.name}"
            if not EXP_ID_RE.match(e.name):
                self.bad(where, "experiment dir name is not decimal digits")
            meta = self.meta(e / "meta.yaml", EXP_KEYS, where)
            if meta is None:
                continue
            if meta.get("experiment_id") != e.name:
                self.bad(where, f"experiment_id {meta.get('experiment_id')!r} != dir name")
            if meta.get("artifact_location") != e.resolve().as_uri():
                self.bad(where, f"artifact_location {meta.get('artifact_location')!r} != "
                                f"{e.resolve().as_uri()!r}")
            if meta.get("lifecycle_stage") != "active":
                self.bad(where, "lifecycle_stage must be active")
            name = meta.get("name")
            if not isinstance(name, str) or not name or len(name) > 500:
                self.bad(where, "name must be a string of 1..500 characters")
            if name in names:
                self.bad(where, f"duplicate experiment name {name!r} (also {names[name]})")
            names[name] = e.name
            if (e / "tags").is_dir():
                self.key_files(e / "tags", "experiment tag", where)
            runs = {}
            for r in sorted(e.iterdir()):
                if r.is_dir() and r.name not in RESERVED_IN_EXP:
                    info = self.run(r, e.name)
                    if info is not None:
                        runs[r.name] = info
            self.relations(runs, where)
            self.summary["experiments"][e.name] = {
                "name": name,
                "runs": {rid: {"run_name": i["meta"].get("run_name"),
                               "status": i["meta"].get("status"),
                               "parent": i["tags"].get("mlflow.parentRunId"),
                               "params": i["params"], "tags": i["tags"],
                               "metrics": i["metrics"], "artifacts": i["artifacts"]}
                         for rid, i in runs.items()}}
        zero = self.summary["experiments"].get("0")
        if zero is None or zero["name"] != "Default":
            self.bad("root", "no Default experiment 0")

    def relations(self, runs, where):
        by_parent = {}
        for rid, info in runs.items():
            pid = info["tags"].get("mlflow.parentRunId")
            if pid is None:
                continue
            if pid not in runs:
                self.bad(where, f"run {rid}: mlflow.parentRunId {pid} is not a run of this experiment")
            elif "mlflow.parentRunId" in runs[pid]["tags"]:
                self.bad(where, f"run {rid}: parent {pid} is itself nested")
            name = info["meta"].get("run_name")
            if name in by_parent.setdefault(pid, set()):
                self.bad(where, f"run {rid}: two children of {pid} are named {name!r}")
            by_parent[pid].add(name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mlruns")
    ap.add_argument("--armory", action="store_true")
    ap.add_argument("--summary", metavar="FILE", help="write what was read as JSON")
    args = ap.parse_args()
    root = Path(args.mlruns).resolve()
    if not root.is_dir():
        print(f"mlflow_layout_check: {args.mlruns}: not a directory", file=sys.stderr)
        return 2
    c = Checker(root, args.armory)
    c.check()
    if args.summary:
        with open(args.summary, "w") as f:
            json.dump(c.summary, f, indent=2, sort_keys=True)
    for p in c.problems:
        print(f"ERROR {p}")
    nexp = len(c.summary["experiments"])
    nrun = sum(len(e["runs"]) for e in c.summary["experiments"].values())
    verdict = "FAIL" if c.problems else "OK"
    print(f"{verdict}: {nexp} experiment(s), {nrun} run(s), {len(c.problems)} problem(s)")
    return 1 if c.problems else 0


if __name__ == "__main__":
    sys.exit(main())
