"""Rebuild envs/jobshop/data/catalog.json from a JSPLIB checkout (e.g. ../shared/data/jsplib).

The catalog pins each instance file's sha256 (checked by load_instance) and records its bounds with
their source. Usage: python scripts/build_jobshop_catalog.py ../shared/data/jsplib
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

JSPLIB_SOURCE = "JSPLIB instances.json (github.com/tamy0612/JSPLIB, commit 876c560d)"
JSPLIB_DATE = "JSPLIB collection, last updated 2019 (bounds may have improved since)"
TA_100x20_SOURCE = "Taillard 1993: the optimum equals the machine-load lower bound (computed)"
# ta73 is the one 100x20 instance whose optimum exceeds the machine-load bound.
TA_100x20_KNOWN = {"ta73": 5568}


def main(root: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from schedgym.envs.jobshop.formats import parse_standard
    from schedgym.envs.jobshop.taillard import taillard_instance

    base = Path(root)
    entries = {}
    for item in json.loads((base / "instances.json").read_text()):
        name, path = item["name"], item["path"]
        data = (base / path).read_bytes()
        if item.get("optimum") is not None:
            b = {"lower": item["optimum"], "upper": item["optimum"], "optimal": True}
            src, date = JSPLIB_SOURCE, JSPLIB_DATE
        elif item.get("bounds"):
            b = {"lower": item["bounds"]["lower"], "upper": item["bounds"]["upper"], "optimal": False}
            src, date = JSPLIB_SOURCE, JSPLIB_DATE
        else:
            inst = taillard_instance(name)
            lb = inst.lower_bound()
            b = {"lower": lb, "upper": lb, "optimal": True}
            src, date = TA_100x20_SOURCE, "1993"
            if name in TA_100x20_KNOWN and TA_100x20_KNOWN[name] != lb:
                b = {"lower": lb, "upper": TA_100x20_KNOWN[name], "optimal": False}
                src = ("lower: machine-load bound computed from the instance; upper: Taillard's published "
                       "best known (optimum) value, not re-verified here")
        assert parse_standard(data.decode(), path, name).shape == (item["jobs"], item["machines"])
        entries[name] = {
            "path": path,
            "jobs": item["jobs"],
            "machines": item["machines"],
            "sha256": hashlib.sha256(data).hexdigest(),
            "bounds": {**b, "source": src, "date": date},
        }
    out = Path(__file__).resolve().parents[1] / "envs" / "jobshop" / "data" / "catalog.json"
    out.write_text(json.dumps({"instances": entries}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(entries)} instances to {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/jsplib")
