"""Write the demo sample's sponsorships (civic_briefs/data/sample_bills.json) from the real files.

Each sample bill gets its sponsor and those of its cosponsors who are a demo user's own members of
Congress (civic_briefs/data/demo_users.json), as the BILLSTATUS file has them: names, ids, party,
state, district and dates, facts only. The rest of the sample is left as it is.

    .venv/bin/python -m tests.scripts.sample_sponsorships [../shared/data/billstatus]
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

from civic_briefs.billstatus import parse_file
from civic_briefs.demo import demo_users
from civic_briefs.members import represents

DEFAULT_SOURCE = Path(__file__).resolve().parents[3] / "shared" / "data" / "billstatus"


def main(source: Path = DEFAULT_SOURCE) -> None:
    path = Path(str(resources.files("civic_briefs") / "data" / "sample_bills.json"))
    sample = json.loads(path.read_text(encoding="utf-8"))
    users = demo_users()
    for item in sample["bills"]:
        parsed = parse_file(source / f"BILLSTATUS-{item['congress']}{item['bill_type']}{item['bill_number']}.xml")
        kept = [s for s in parsed.current_sponsorships
                if s.role == "sponsor" or any(represents(s.member, u) for u in users)]
        item["sponsorships"] = [s.model_dump(mode="json", exclude={"bill_id": True, "member": {"updated_at"}})
                                for s in kept]
    path.write_text(json.dumps(sample, indent=2) + "\n", encoding="utf-8")
    print(f"{path}: {sum(len(b['sponsorships']) for b in sample['bills'])} sponsorships")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE)
