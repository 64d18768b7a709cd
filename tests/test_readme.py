"""README.md's code blocks run, so the README cannot drift from the code.

The convention (the README's "Tests" section says it to readers too):
- ```python blocks run as pasted, each in a fresh process; every printed line must match, in order,
  the `# -> ...` comments of the block's lines.
- ```bash blocks run with bash (`set -e`), each in its own temporary folder (with `scripts/` and
  `conf/` linked in) against a temporary MLflow store (`tracking.uri` and SPARSEGRAD_TRACKING_URI).
  Each `python scripts/train.py` command gets `trainer.epochs=1` appended, and `data=synthetic` when it
  names no data (256 images), or `data.limit=300` for `data=mnist_sample`; `<run id>` becomes the store's last
  training run. `make ...` lines are not run (they install and recurse): their target must exist.
- ```console blocks: each `$ command` runs as above (with only the temporary store appended) and must
  print exactly the lines under it (stdout, then stderr without MLflow's INFO lines).
- ```text blocks are shown, not run. A block that cannot run here follows a
  `<!-- readme-test: skip (why) -->` comment.
Blocks run in parallel (at most WORKERS at once); the commands of one block in order.
"""

from __future__ import annotations

import re
import shlex
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness import ROOT, Outcome, Process, copy_store, make_template, subprocess_env

README = ROOT / "README.md"
LANGUAGES = {"python", "bash", "console", "text"}
WORKERS = 4
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.M | re.S)
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((.+?)\)\s*-->\s*$")
SCRIPT = re.compile(r"\bpython scripts/(train|evaluate)\.py\b")
EXPECTED = re.compile(r"#\s*->\s?(.*)$")
# The store's last training run (one with a `loss`; evaluation runs carry the tag sparsegrad.evaluates).
LAST_RUN = """import mlflow, os
client = mlflow.MlflowClient(os.environ["SPARSEGRAD_TRACKING_URI"])
runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                          order_by=["attributes.start_time DESC"])
print(next(r.info.run_id for r in runs if "train/loss" in r.data.metrics and "sparsegrad.evaluates" not in r.data.tags))
"""

@dataclass
class Block:
    language: str
    code: str
    line: int  # where its fence opens in README.md
    skip: str  # why it is not run ("" when it is)

    @property
    def name(self) -> str:
        return f"{self.language}@{self.line}"


def blocks() -> list[Block]:
    text = README.read_text()
    found = []
    for match in FENCE.finditer(text):
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        found.append(Block(match.group(1), match.group(2), text.count("\n", 0, match.start()) + 1,
                           skip.group(1) if skip else ""))
    return found


BLOCKS = blocks()
RUN = [b for b in BLOCKS if b.language in ("python", "bash", "console") and not b.skip]


def with_overrides(line: str, store: str, fast: bool) -> str:
    """A README command as the test runs it: the temporary store and, for training, one short epoch."""
    if not SCRIPT.search(line):
        return line
    command = re.sub(r"\s+#.*$", "", line)
    extra = [f"tracking.uri={store}"]
    if fast and "scripts/train.py" in command and "--cfg" not in command:
        extra.append("trainer.epochs=1")
        if not re.search(r"(^|\s)data=", command):
            extra.append("data=synthetic")
        if "data=synthetic" in command + " ".join(extra):
            extra += ["data.n_train=256", "data.n_test=64"]
        elif re.search(r"(^|\s)data=mnist_sample\b", command):
            extra.append("data.limit=300")
    return command.replace("<run id>", '"$(python last_run.py)"') + " " + " ".join(extra)


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))


def folder_for(tmp: Path, block: Block) -> tuple[Path, str, dict[str, str]]:
    folder = tmp / block.name.replace("@", "_")
    folder.mkdir()
    for name in ("scripts", "conf"):
        (folder / name).symlink_to(ROOT / name)
    (folder / "last_run.py").write_text(LAST_RUN)
    store = copy_store(tmp / "template.db", folder / "mlflow.db")  # (an empty store: no migrations per block)
    return folder, store, subprocess_env(SPARSEGRAD_TRACKING_URI=store)


def run_block(tmp: Path, block: Block) -> list[tuple[str, Outcome]]:
    """The block's commands and what each did."""
    folder, store, env = folder_for(tmp, block)
    if block.language == "python":
        (folder / "block.py").write_text(block.code)
        return [(block.code, Process([sys.executable, "block.py"], folder, "python", env, cwd=folder).wait())]
    if block.language == "bash":
        lines = [":  # " + line if line.startswith("make ") else with_overrides(line, store, fast=True)
                 for line in block.code.splitlines()]
        (folder / "block.sh").write_text("set -e\n" + "\n".join(lines) + "\n")
        return [(block.code, Process(["bash", "block.sh"], folder, "bash", env, cwd=folder).wait())]
    results = []
    for i, command in enumerate(line[2:] for line in block.code.splitlines() if line.startswith("$ ")):
        script = with_overrides(command, store, fast=False)
        results.append((command, Process(["bash", "-c", script], folder, f"console{i}", env, cwd=folder).wait()))
    return results


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("readme")
    make_template(tmp)
    longest_first = sorted(RUN, key=lambda b: -(b.code.count("scripts/") + 5 * b.code.count(" -m ")))
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = {b.name: pool.submit(run_block, tmp, b) for b in longest_first}
        return {name: future.result() for name, future in futures.items()}


def expected_console(block: Block) -> list[list[str]]:
    """The lines shown under each `$ command` of a console block."""
    shown: list[list[str]] = []
    for line in block.code.splitlines():
        if line.startswith("$ "):
            shown.append([])
        elif shown:
            shown[-1].append(line)
    return shown


def test_every_block_says_its_language_and_every_skip_its_reason():
    assert BLOCKS, "README.md has no code blocks"
    for block in BLOCKS:
        assert block.language in LANGUAGES, f"README.md line {block.line}: ```{block.language}"
    assert all(b.skip.strip() for b in BLOCKS if b.skip)


def test_make_lines_name_targets_of_the_makefile():
    targets = makefile_targets()
    for block in (b for b in BLOCKS if b.language == "bash"):
        for line in block.code.splitlines():
            if line.startswith("make "):
                assert shlex.split(line, comments=True)[1] in targets, f"README.md line {block.line}: {line}"
    for target in re.findall(r"`make ([a-z][\w-]*)", README.read_text()):
        assert target in targets, f"README.md names `make {target}`, which the Makefile lacks"


def test_python_blocks_have_their_output_written_beside_them():
    for block in (b for b in BLOCKS if b.language == "python"):
        prints = [line for line in block.code.splitlines() if re.match(r"\s*print\(", line)]
        assert all(EXPECTED.search(line) for line in prints), f"README.md line {block.line}: a print without # ->"


@pytest.mark.slow
@pytest.mark.parametrize("name", [b.name for b in RUN])
def test_readme_block_runs(ran, name):
    block = next(b for b in RUN if b.name == name)
    for _, outcome in ran[name]:
        if block.language == "console":
            continue
        assert outcome.returncode == 0, f"README.md line {block.line}:\n{outcome}"
        assert "Traceback" not in outcome.stderr, f"README.md line {block.line}:\n{outcome}"
    if block.language == "python":
        _, outcome = ran[name][0]
        expected = [EXPECTED.search(line).group(1).strip() for line in block.code.splitlines()
                    if EXPECTED.search(line)]
        assert [line.strip() for line in outcome.stdout.splitlines()] == expected, f"README.md line {block.line}"
    if block.language == "console":
        for (command, outcome), shown in zip(ran[name], expected_console(block), strict=True):
            printed = outcome.stdout.splitlines() + outcome.error_lines
            assert printed == shown, f"README.md line {block.line}: `{command}` printed\n{outcome}"
