"""Write src/aiforge/examples/mixed_table.csv: a made-up customer-churn table of mixed columns.

Run once (``python tests/plugins/make_mixed_table.py``); the output is deterministic and shipped.
Columns: numbers (some cells empty), categories of 3-4 levels, a city with 40 levels (embedded),
a true/false column, an ISO date, an id (left out by the example's column_types) and the label
``churned`` (yes/no), which depends on the features through a logistic model.
"""

from __future__ import annotations

import csv
import datetime
import sys
from pathlib import Path

import numpy as np

ROWS = 1500
OUT = Path(__file__).resolve().parents[2] / "src" / "aiforge" / "examples" / "mixed_table.csv"
CITIES = [
    "Aberdeen", "Akron", "Albany", "Arlington", "Austin", "Boise", "Boston", "Buffalo", "Camden",
    "Chester", "Dayton", "Denver", "Dover", "Durham", "Eugene", "Fresno", "Garland", "Helena",
    "Irvine", "Jackson", "Joliet", "Laredo", "Lincoln", "Madison", "Mesa", "Newark", "Norfolk",
    "Ogden", "Omaha", "Orlando", "Peoria", "Provo", "Reno", "Salem", "Salinas", "Tampa", "Toledo",
    "Tucson", "Waco", "Yonkers",
]  # fmt: skip


def rows(seed: int = 19) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    city_effect = rng.normal(0.0, 1.2, len(CITIES))
    today = datetime.date(2024, 6, 30)
    out = []
    for i in range(ROWS):
        contract = rng.choice(["month-to-month", "one-year", "two-year"], p=[0.5, 0.3, 0.2])
        internet = rng.choice(["dsl", "fiber", "none"], p=[0.4, 0.4, 0.2])
        payment = rng.choice(["bank-transfer", "card", "e-check", "mailed-check"])
        city = int(rng.integers(len(CITIES)))
        tenure = int(rng.integers(1, 73))
        charges = round(float(rng.normal({"dsl": 55, "fiber": 85, "none": 25}[internet], 12)), 2)
        calls = int(rng.poisson(1.5))
        paperless = bool(rng.random() < 0.6)
        logit = (
            -0.6
            + {"month-to-month": 1.5, "one-year": -0.3, "two-year": -1.6}[contract]
            - 0.045 * (tenure - 30)
            + 0.025 * (charges - 60)
            + 0.55 * (calls - 1.5)
            + (0.6 if internet == "fiber" else 0.0)
            + (0.6 if payment == "e-check" else 0.0)
            + (0.3 if paperless else 0.0)
            + city_effect[city]
        )
        churned = rng.random() < 1.0 / (1.0 + np.exp(-1.6 * logit))
        signup = today - datetime.timedelta(days=int(tenure * 30.4 + rng.integers(0, 30)))
        out.append(
            {
                "customer_id": f"C{10000 + i}",
                "signup_date": "" if rng.random() < 0.03 else signup.isoformat(),
                "tenure_months": str(tenure),
                "monthly_charges": "" if rng.random() < 0.05 else f"{charges:.2f}",
                "support_calls": "" if rng.random() < 0.04 else str(calls),
                "contract": contract,
                "internet": "" if rng.random() < 0.03 else internet,
                "payment_method": payment,
                "city": CITIES[city],
                "paperless_billing": "true" if paperless else "false",
                "churned": "yes" if churned else "no",
            }
        )
    return out


def main() -> None:
    table = rows()
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(table[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)


if __name__ == "__main__":
    main()
