"""Every figure in a notebook's prose is a figure the notebook printed above it.

``prose_problems(nb, allow)`` reads an *executed* notebook: each number in a markdown cell must occur
in the text output (stdout, ``text/plain`` results) of an earlier code cell, matched at the precision
the prose writes it ("0.71" matches a printed 0.7104, "85 %" a printed 0.853 or 85.3 %, "844" a
printed 844). Numbers that are definitions rather than measurements — sizes set in code, years,
citations, section and exercise numbers, notebook numbers, figures quoted from ``make bench`` — are
either skipped by rule (headings, years, "Exercise 3 (2 points)", "notebook 06", "01", single digits
without "%", a time estimate "about 35 minutes", "2 CPU cores", numbers glued to words such as
"R@10", "top-10", "ResNet-18", LaTeX and code spans) or listed in ``ALLOW``, a short explicit
allow-list per notebook. Comparative claims ("several times faster", "orders of magnitude",
"levels off", "keeps most", "N times shorter") must be backed by an ``assert`` in an earlier code cell
whose comment quotes the phrase, or be rephrased.

The executed notebooks come from ``tests/test_notebooks.py`` (which runs this check on the executions
it grades). The tests here pin the extractor and matcher on small hand-made notebooks. To check
notebooks executed elsewhere: ``python tests/test_prose_numbers.py executed/*.ipynb``.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

# Numbers that are definitions, per notebook stem (a number listed here is skipped wherever it
# appears in that notebook's prose). Keep these short: a measured figure belongs in an output.
ALLOW: dict[str, set[str]] = {
    "00_welcome_and_data": {"1,797", "255", "3,072"},        # scikit-learn's digits; uint8; 32 x 32 x 3
    "01_cnn_image_features": {"13", "3,072", "1.2", "255"},   # 6 + 7 attributes; ImageNet
    "01k_cnn_image_features_keras": {"13", "255"},
    "02_rnn_text_features": {"12"},                           # the padding width set in code
    "02k_rnn_text_features_keras": {"12"},
    "03_fusion_and_joint_space": {"128", "40", "300", "30"},   # d; settings in code
    "03k_fusion_and_joint_space_keras": {"1,000", "5,000", "20,000"},   # split sizes
    "04_similarity_and_search": {"1,000", "100", "20,000", "64", "30,000", "300"},  # sizes in code
    "05_hashing": {"512", "64", "255", "50", "5,000", "100"},  # 128 x 4 bytes; bits, steps, sizes in code
    "06_evaluation": {"300", "5,000", "200", "95"},           # query counts set in code; the CI level
    "07_spoken_queries": {"100", "20", "22,050"},             # example step; frame ms in code; espeak's rate
    "10_capstone_search_engine": {"100"},                     # the reflection's scenario; candidates
}

# Comparatives that need an assert (whose comment quotes the phrase) in an earlier code cell.
COMPARATIVES = re.compile(r"several times|orders? of magnitude|level off|keep most"
                          r"|\b\d+(?:\.\d+)? times (?:shorter|longer|faster|slower|smaller|larger|wider)")

_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
_PERCENT = re.compile(r"\s?%")
_GLUED_BEFORE = re.compile(r"[\w@_\-–−/^×.·\\]$")     # R@10, top-10, 04–07, 3×3, x^2, 1/8, v1.2
_GLUED_AFTER = re.compile(r"^(?:[A-Za-z_×]|-[A-Za-z]|[.,]\d|–\d|/\d)")  # 2D, 03k, 3x3, 10-bit, 1–3
_SKIP_CONTEXT = [
    re.compile(r"(?i)\b(?:notebooks?|exercises?|sections?|steps?)\s+(?:\*\*)?\d+(?:\s*(?:,|and|or|–|-)\s*\d+)*"),
    re.compile(r"(?i)\b\d+\s+points?\b"),                             # marks
    re.compile(r"(?i)\btop \d+"),                                      # "the top 10"
    re.compile(r"\b(?:19|20)\d\d\b"),                                 # years / citations
    re.compile(r"(?i)\bet al\.,?\s*\d{4}"),
    re.compile(r"(?i)\babout \d+ minutes"),                           # a notebook's time estimate
    re.compile(r"(?i)\b\d+ CPU cores?"),                              # the reference machine
    re.compile(r"\b0\d\b"),                                           # notebook numbers: 01, 07
]


def _strip(markdown: str) -> str:
    """The prose of a markdown cell: no headings, math, code spans, links or HTML."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\$[^$]*\$", " ", text)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)       # keep link text, drop the URL
    text = re.sub(r"https?://\S+", " ", text)
    text = re.sub(r"<[^>]+>", " ", text)
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    text = re.sub(r"(?m)^\s*(?:\d+\.|[*-])\s", " ", text)        # list markers "1. "
    for pattern in _SKIP_CONTEXT:
        text = pattern.sub(" ", text)
    return text


def prose_numbers(markdown: str) -> list[str]:
    """The numbers a markdown cell states, as written ("0.71", "85 %", "1,000")."""
    text = _strip(markdown)
    found = []
    for m in _NUMBER.finditer(text):
        before, after = text[:m.start()], text[m.end():]
        if _GLUED_BEFORE.search(before) or _GLUED_AFTER.match(after):
            continue
        pct = _PERCENT.match(after)
        if not pct and re.fullmatch(r"\d", m.group()):
            continue                      # single digits without % are counts and indices: "id 0", "5 captions"
        found.append(m.group() + (" %" if pct else ""))
    return found


def output_numbers(nb, upto: int) -> list[float]:
    """Every number printed by the code cells before cell ``upto`` (percentages as fractions too)."""
    values = []
    for cell in nb.cells[:upto]:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text = out.get("text", "")
            elif out.get("output_type") in ("execute_result", "display_data"):
                text = out.get("data", {}).get("text/plain", "")
            else:
                continue
            text = "".join(text) if isinstance(text, list) else text
            for m in re.finditer(r"-?" + _NUMBER.pattern + r"(\s?%)?|-?\d*\.\d+(?:e-?\d+)?", text):
                raw = m.group().replace(",", "").replace("%", "").strip()
                try:
                    x = float(raw)
                except ValueError:
                    continue
                values.append(abs(x))
                if "%" in m.group():
                    values.append(abs(x) / 100)
    return values


def matches(written: str, printed: list[float]) -> bool:
    """``written`` (a prose number) agrees with a printed value at the precision it is written."""
    pct = written.endswith("%")
    digits = written.replace("%", "").strip().replace(",", "")
    value = float(digits)
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    unit = 10.0 ** -decimals
    # "85 %" matches a printed 0.853 (a fraction) or 85.3 (a percentage); printed "17 %" was also
    # recorded as 0.17 by output_numbers, so a plain "0.17" matches it
    targets = [(value / 100, unit / 100), (value, unit)] if pct else [(value, unit)]
    for x in printed:
        for target, step in targets:
            if abs(x - target) <= step * 1.0001:
                return True
    return False


def _canonical(text: str) -> str:
    """Lower-case, one space, and one form per verb: "keeps/kept most" -> "keep most", "levels off" -> "level off"."""
    text = re.sub(r"\s+", " ", text.lower())
    text = re.sub(r"\b(?:keeps|kept|keeping)\b", "keep", text)
    return re.sub(r"\b(?:levels|levelled|leveled|levelling|leveling)\b", "level", text)


def _asserted_phrases(nb, upto: int) -> str:
    return _canonical("\n".join(line for cell in nb.cells[:upto] if cell.cell_type == "code"
                                 for line in cell.source.splitlines() if "assert" in line and "#" in line))


def prose_problems(nb, allow=()) -> list[str]:
    """Unprinted numbers and unbacked comparatives of an executed notebook, one message each."""
    allow = set(allow)
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown" or cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            continue                  # a written answer (and its mark scheme) is the learner's, not prose
        printed = None
        for written in prose_numbers(cell.source):
            if written.replace(" %", "") in allow or written in allow:
                continue
            printed = output_numbers(nb, i) if printed is None else printed
            if not matches(written, printed):
                problems.append(f"cell {i}: {written!r} is not printed above it")
        lowered = _canonical(cell.source)
        backed = None
        for phrase in dict.fromkeys(m.group() for m in COMPARATIVES.finditer(lowered)):
            backed = _asserted_phrases(nb, i) if backed is None else backed
            if phrase not in backed:
                problems.append(f"cell {i}: {phrase!r} needs an earlier `assert ...  # {phrase}` "
                                "or a rephrasing")
    return problems


# ----------------------------------------------------------------------------- the extractor itself
def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    for kind, src, out in cells:
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(src))
        else:
            c = nbformat.v4.new_code_cell(src)
            c.outputs = [nbformat.v4.new_output("stream", name="stdout", text=out)] if out else []
            nb.cells.append(c)
    return nb


def test_extractor_reads_figures_and_skips_definitions():
    md = ("## 3. Results\nExercise 2 (3 points) in notebook 06 (Faghri et al., 2018): R@10 is 0.71, "
          "85 % of 1,000 images, top-10, ResNet-18, 3×3, `k=5`, $2\\alpha = 0.4$, 04–07, 2D, (07), "
          "5 captions, 1 %, about 35 minutes on 2 CPU cores.")
    assert prose_numbers(md) == ["0.71", "85 %", "1,000", "1 %"]


@pytest.mark.parametrize("written, printed, ok", [
    ("0.71", [0.7104], True), ("0.71", [0.7249], False), ("85 %", [0.853], True),
    ("85 %", [85.3], True), ("17 %", [0.1655], True), ("0.17", [0.1655], True), ("844", [844.0], True),
    ("1,000", [1000.0], True), ("45", [44.0], True), ("45", [47.0], False), ("2.5", [2.56], True),
])
def test_matching_is_at_the_written_precision(written, printed, ok):
    assert matches(written, printed) is ok


def test_prose_problems_binds_prose_to_earlier_outputs():
    nb = _nb(("md", "The model reaches 0.83.", None),                       # before the print: a problem
             ("code", "print(m)", "mAP = 0.8312, 844 of 5000\n"),
             ("md", "It reaches 0.83; 844 duplicates; 17 % of 5,000.", None),
             ("md", "Hashing is several times faster.", None),
             ("code", "assert speedup > 3  # several times faster", ""),
             ("md", "Hashing is several times faster.", None))
    problems = prose_problems(nb)
    assert problems == ["cell 0: '0.83' is not printed above it", "cell 2: '17 %' is not printed above it",
                        "cell 3: 'several times' needs an earlier `assert ...  # several times` "
                        "or a rephrasing"], problems
    assert prose_problems(nb, allow={"0.83", "17"}) == problems[2:]


def main(paths) -> int:
    bad = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        problems = prose_problems(nb, ALLOW.get(Path(path).stem, ()))
        bad += len(problems)
        print(f"{Path(path).name}: {len(problems)} problem(s)")
        for p in problems:
            print("   ", p)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
