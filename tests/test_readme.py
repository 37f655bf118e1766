from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = next(l.strip() for l in readme.splitlines() if "pytest" in l and "pip install" in l)
    assert command in ci.splitlines()


def test_sample_film_ships():
    from oldfilm.video import probe
    info = probe(ROOT / "samples" / "bunny-bw.mp4")
    assert info.frames == 132 and len(info.audio) == 1
