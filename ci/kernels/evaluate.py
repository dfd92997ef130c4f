#!/usr/bin/env python3
"""Reads the console logs of the kernel matrix's boots, writes the result files and judges them.

For each boot (one kernel, one knob setting) the VM printed, base64-encoded between markers, the
`sandprobe check --json` and `sandprobe verify --json` outputs as root and as nobody, and the exit
codes of three busybox unshare runs: the ground truth. This script writes `<slug>.json` (the check
output, unchanged) and `<slug>.truth.json` beside it, prints one line per verdict, and prints the
counts as the last line: "AGREE DISAGREE VERIFY_PASS VERIFY_FAIL".

Usage: evaluate.py OUT_DIR PLAN_FILE
PLAN_FILE has one boot a line, tab-separated: log path, slug prefix, label prefix, knob id,
knob label, kernel-config note.
"""

import base64
import binascii
import json
import os
import re
import sys

BEGIN = re.compile(r"^@@SANDPROBE-BEGIN (\S+)@@$")
END = re.compile(r"^@@SANDPROBE-END (\S+)@@$")
DONE = "@@SANDPROBE-DONE@@"


def parse_console(path):
    """The named results of one boot, and whether the boot reached its end marker."""
    results = {}
    done = False
    current = None
    chunks = []
    try:
        with open(path, encoding="utf-8", errors="replace") as log:
            lines = log.read().replace("\r", "").split("\n")
    except OSError:
        return results, False
    for line in lines:
        if line == DONE:
            done = True
            continue
        begin = BEGIN.match(line)
        if begin:
            current, chunks = begin.group(1), []
            continue
        end = END.match(line)
        if end and current == end.group(1):
            try:
                results[current] = base64.b64decode("".join(chunks), validate=True).decode(
                    "utf-8", errors="replace"
                )
            except (binascii.Error, ValueError):
                results[current] = None
            current = None
            continue
        if current is not None:
            chunks.append(line.strip())
    return results, done


def exit_code(results, name):
    text = (results.get(name + ".rc") or "").strip()
    return int(text) if text.lstrip("-").isdigit() else None


def load_json(text):
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def first_line(text):
    text = (text or "").strip()
    return text.splitlines()[-1] if text else ""


def meta_fields(results):
    fields = {}
    for line in (results.get("meta") or "").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key] = value
    return fields


def verdict_modes(report):
    """(invoker mode, root mode, unprivileged mode) from a check report, or None."""
    try:
        verdict = report["verdict"]
        return verdict["mode"], verdict["root"]["mode"], verdict["unprivileged"]["mode"]
    except (KeyError, TypeError):
        return None


def judge_verify(results, role, expected_mode, verdict_mode):
    """'pass' | 'fail' | 'not_applicable', and a note."""
    available = expected_mode != "unsupported" or (
        verdict_mode is not None and verdict_mode != "unsupported"
    )
    rc = exit_code(results, "verify-" + role)
    report = load_json(results.get("verify-%s.out" % role))
    if not available:
        return "not_applicable", "verify not applicable (no mode for %s); it exited %s: %s" % (
            role,
            rc,
            first_line(results.get("verify-%s.err" % role)),
        )
    if report is None:
        return "fail", "verify exited %s with no report: %s" % (
            rc,
            first_line(results.get("verify-%s.err" % role)),
        )
    failed = [
        c.get("id", "?")
        for c in report.get("checks", [])
        if isinstance(c, dict) and c.get("outcome") != "pass"
    ]
    used = report.get("mode_used")
    note = "verify --mode auto as %s: exit %s, mode %s, %d checks, failed: %s" % (
        role,
        rc,
        used,
        len(report.get("checks", [])),
        ", ".join(failed) or "none",
    )
    ok = rc == 0 and report.get("passed") is True and not failed and used == expected_mode
    if used != expected_mode:
        note += " (expected mode %s)" % expected_mode
    return ("pass" if ok else "fail"), note


def main():
    if len(sys.argv) != 3:
        print("usage: evaluate.py OUT_DIR PLAN_FILE", file=sys.stderr)
        return 2
    out_dir, plan_path = sys.argv[1], sys.argv[2]
    counts = {"agree": 0, "disagree": 0, "pass": 0, "fail": 0}
    with open(plan_path, encoding="utf-8") as plan:
        boots = [line.rstrip("\n").split("\t") for line in plan if line.strip()]
    for log_path, slug_prefix, label_prefix, knob, knob_label, config_note in boots:
        results, done = parse_console(log_path)
        meta = meta_fields(results)
        missing_truth = [
            name
            for name in ("truth-nobody-userns", "truth-root-userns", "truth-root-rootbacked")
            if exit_code(results, name) is None
        ]
        truth_userns = exit_code(results, "truth-nobody-userns") == 0
        truth_root_backed = exit_code(results, "truth-root-rootbacked") == 0
        truth_root_userns = exit_code(results, "truth-root-userns") == 0
        expected_unpriv = "userns" if truth_userns else "unsupported"
        if truth_userns:
            expected_root = "userns"
        elif truth_root_backed:
            expected_root = "root-backed"
        else:
            expected_root = "unsupported"
        observed = (
            "busybox unshare as nobody (-U -r -m -p -n -i -u -f --mount-proc, tmpfs mount): %s; "
            "as root with -U -r: %s; as root without a user namespace: %s"
            % tuple(
                "ok" if ok else "failed (%s)" % first_line(results.get(name + ".err")) or "failed"
                for ok, name in (
                    (truth_userns, "truth-nobody-userns"),
                    (truth_root_userns, "truth-root-userns"),
                    (truth_root_backed, "truth-root-rootbacked"),
                )
            )
        )
        knob_note = "knobs read back: unprivileged_userns_clone=%s, max_user_namespaces=%s" % (
            meta.get("unprivileged_userns_clone", "?"),
            meta.get("max_user_namespaces", "?"),
        )
        if meta.get("knob_error"):
            knob_note += "; setting the knob failed: " + meta["knob_error"]
        for role in ("root", "nobody"):
            slug = "%s-%s-%s" % (slug_prefix, knob, role)
            label = "%s / %s / %s" % (label_prefix, knob_label, role)
            report = load_json(results.get("check-%s.out" % role))
            rc = exit_code(results, "check-" + role)
            notes = []
            if not done:
                notes.append("the VM did not finish (console log %s)" % os.path.basename(log_path))
            modes = verdict_modes(report) if report else None
            expected_self = expected_root if role == "root" else expected_unpriv
            agrees = done and not missing_truth and modes is not None
            if missing_truth:
                notes.append("no ground truth from: " + ", ".join(missing_truth))
            if modes is None:
                notes.append(
                    "check gave no verdict (exit %s): %s"
                    % (rc, first_line(results.get("check-%s.err" % role)))
                )
            else:
                mode, root_mode, unpriv_mode = modes
                if (mode, root_mode, unpriv_mode) != (expected_self, expected_root, expected_unpriv):
                    agrees = False
                notes.append(
                    "verdict: %s (root %s, unprivileged %s); expected from the ground truth: "
                    "%s (root %s, unprivileged %s)"
                    % (mode, root_mode, unpriv_mode, expected_self, expected_root, expected_unpriv)
                )
                if (rc == 0) != (mode != "unsupported"):
                    agrees = False
                    notes.append("check exit code %s does not match its mode %s" % (rc, mode))
                if report.get("source", {}).get("label") != label:
                    agrees = False
                    notes.append("check recorded another label")
                with open(os.path.join(out_dir, slug + ".json"), "w", encoding="utf-8") as f:
                    f.write(results["check-%s.out" % role])
            verify, verify_note = judge_verify(
                results,
                role,
                expected_self,
                modes[0] if modes else None,
            )
            notes.extend([verify_note, observed, knob_note, "kernel " + meta.get("uname", "?")])
            if config_note:
                notes.append(config_note)
            truth = {
                "label": label,
                "ground_truth": {"userns": truth_userns, "root_backed": truth_root_backed},
                "verdict_agrees": agrees,
                "verify": verify,
                "notes": "; ".join(notes),
            }
            with open(os.path.join(out_dir, slug + ".truth.json"), "w", encoding="utf-8") as f:
                json.dump(truth, f, indent=2)
                f.write("\n")
            counts["agree" if agrees else "disagree"] += 1
            if verify != "not_applicable":
                counts[verify] += 1
            print(
                "%-46s %-11s %-9s verify %s%s"
                % (
                    slug,
                    modes[0] if modes else "-",
                    "agrees" if agrees else "DISAGREES",
                    verify,
                    "" if agrees and verify != "fail" else "  [" + truth["notes"] + "]",
                )
            )
    print("%d %d %d %d" % (counts["agree"], counts["disagree"], counts["pass"], counts["fail"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
