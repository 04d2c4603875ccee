"""axe-core in Playwright: run Deque's accessibility rules on the page a test is looking at.

axe-core comes from the pinned `axe-playwright-python` package (requirements-dev.txt), which
ships axe.min.js; nothing is fetched at test time. It is evaluated through the DevTools
protocol, so the pages' Content-Security-Policy (scripts from 'self' only) does not block it.

    from tests.accessibility import assert_accessible
    assert_accessible(page)               # no serious or critical violation
    axe_violations(page, impacts=None)    # every violation, for a closer look
"""

from functools import cache
from importlib.resources import files

SERIOUS = ("serious", "critical")


@cache
def axe_source():
    return files("axe_playwright_python").joinpath("axe.min.js").read_text(encoding="utf-8")


def axe_violations(page, impacts=SERIOUS, options=None):
    """The axe-core violations on `page` (all impacts when `impacts` is None), each as
    {"id", "impact", "help", "targets"}."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    result = page.evaluate(
        "async (options) => await window.axe.run(document, options)",
        {"resultTypes": ["violations"], **(options or {})},
    )
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "targets": [node["target"] for node in violation["nodes"]][:5],
        }
        for violation in result["violations"]
        if impacts is None or violation["impact"] in impacts
    ]


def assert_accessible(page, impacts=SERIOUS):
    """Fail with the list of violations when axe-core finds a serious or critical one."""
    violations = axe_violations(page, impacts)
    assert violations == [], f"axe-core on {page.url}: {violations}"
