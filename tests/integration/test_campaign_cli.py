"""``callcenter campaign ...`` on a real SQLite database: a campaign from a YAML document, a
do-not-call number, lead lists from CSV and from Excel (pandas + openpyxl) with the validation
report, the stored leads, the report and a bad document refused with its field named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from callcenter.cli import cli

pytestmark = pytest.mark.integration

DOCUMENT = """name: spring
mode: predictive
caller_id: "+13125550199"
company: Example Energy
callback_number: "+1 312 555 0100"
busy: {delay_s: 900, max_attempts: 3}
amd: {notsure: message}
"""


def run(db: str, *args: str) -> Any:
    return CliRunner().invoke(cli, [*args, "--db", db])


def test_campaign_commands_define_import_and_report(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cc.db'}"
    document = tmp_path / "spring.yaml"
    document.write_text(DOCUMENT)
    created = run(db, "campaign", "create", str(document))
    assert created.exit_code == 0, created.output
    again = run(db, "campaign", "create", str(document))
    assert again.exit_code != 0 and "exists" in again.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(DOCUMENT.replace('"+13125550199"', '"555"'))
    refused = run(db, "campaign", "create", "--replace", str(bad))
    assert refused.exit_code != 0 and "caller_id" in refused.output
    assert run(db, "campaign", "dnc", "+13125550177").exit_code == 0

    csv = tmp_path / "leads.csv"
    csv.write_text("number,name,priority,value,consent\n(212) 555-0101,Ann,5,100,yes\n"
                   "212-555-0101,Ann again,1,1,\n12345,Bad,0,0,\n+13125550177,Blocked,0,0,\n"
                   "+821055501201,Kim,2,50,no\n")
    result = run(db, "campaign", "import", "spring", str(csv))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert (report["rows"], report["imported"], report["no_consent"]) == (5, 2, 1)
    assert [r["row"] for r in report["invalid"]] == [4]
    assert [r["row"] for r in report["duplicates"]] == [3]
    assert report["dnc"] == [{"row": 5, "number": "+13125550177", "list": "global"}]

    excel = tmp_path / "more.xlsx"
    pd.DataFrame({"phone": ["+442079460105", "+12125550101", "not a number"],
                  "priority": ["1", "1", "1"]}).to_excel(excel, index=False)
    more = run(db, "campaign", "import", "spring", str(excel))
    assert more.exit_code == 0, more.output
    second = json.loads(more.stdout[: more.stdout.rindex("}") + 1])
    assert (second["rows"], second["imported"]) == (3, 1)
    assert second["duplicates"][0]["number"] == "+12125550101"  # already in the campaign
    no_number = tmp_path / "names.csv"
    no_number.write_text("name\nAnn\n")
    missing = run(db, "campaign", "import", "spring", str(no_number))
    assert missing.exit_code != 0 and "'number' or 'phone' column" in missing.output

    figures = json.loads(run(db, "campaign", "report", "spring").output)
    assert figures["leads"] == {"new": 3} and figures["dials"] == 0
    assert figures["mode"] == "predictive"
    listed = run(db, "campaign", "list").output
    assert listed.startswith("spring\tready\tpredictive\t+13125550199")
    shown = run(db, "campaign", "show", "spring").output
    assert "notsure: message" in shown and "callback_number: '+13125550100'" in shown
