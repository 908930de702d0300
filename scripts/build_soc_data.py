"""Rebuild envs/soc/data/{apps,socs}/*.json from the DS3 reference data (e.g. ../shared/data/soc).

Each file is parsed and checked with the package's own parser (schedgym.envs.soc.instance), then written
in the package format (``schedgym-soc-app/1`` / ``schedgym-soc/1``) with its source and notes kept.
The numbers are facts re-entered from the DS3 paper and repository (Arda et al., IEEE TC 2020) and from
Topcuoglu et al. 2002; no DS3 code or text is included. Usage:

    python scripts/build_soc_data.py ../shared/data/soc
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(root: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from schedgym.envs.soc.instance import DATA_DIR, read_app, read_soc, write_app, write_soc

    base = Path(root)
    for sub, read, write in (("apps", read_app, write_app), ("socs", read_soc, write_soc)):
        out = DATA_DIR / sub
        out.mkdir(parents=True, exist_ok=True)
        for path in sorted((base / sub).glob("*.json")):
            obj = read(path)
            write(obj, out / path.name)
            print(f"{sub}/{path.name}: {obj.name}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parents[2] / "shared" / "data" / "soc"))
