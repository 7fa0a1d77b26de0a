"""pandas, the way an analyst's RFM notebook does it: read the export, deduplicate, hash the
identifiers, keep one row per order (pickled: the notebook's "table"); later read that back and
compute window, profiles, scores and segment statistics.

  pandas_rfm.py load CSV ORDERS_PICKLE KEY [SHAPE]   # lines (default), orders, orders-email
  pandas_rfm.py segments ORDERS_PICKLE START END     # prints the statistics as JSON lines

Same rules as duckdb_load.sql and segments.sql (statuses of config/mappings/generic.toml, scores
min(5, 1 + floor(5 * below / n)) with ties sharing a score, the nine rules of
config/segments.toml). Only the columns the job needs are read; within an order the others
(category, store, region, channel, currency) follow from the SKU and the order, so
deduplicating on the columns read drops the same lines as Tessera does.
"""
import hashlib
import json
import sys

import numpy as np
import pandas as pd

VOID = {"cancelled", "canceled", "storniert", "voided", "void"}
CREDIT = {"returned", "refunded", "return", "refund", "retoure", "credit", "gutschrift"}
IGNORE = {"pending", "draft", "offen"}


def load(csv, out, key, shape="lines"):
    order_level = shape.startswith("orders")
    columns = ["order_id", "email", "ordered_at", "status"]
    if shape != "orders-email":
        columns.append("customer_id")
    columns += ["amount"] if order_level else ["sku", "quantity", "unit_price"]
    df = pd.read_csv(
        csv,
        usecols=columns,
        dtype={"order_id": str, "customer_id": str, "email": str, "ordered_at": str, "sku": str,
               "quantity": "int64", "unit_price": "float64", "amount": "float64",
               "status": "category"})
    df = df.drop_duplicates()
    status = df["status"].astype(str).str.lower()
    df = df[~status.isin(IGNORE)]
    if "customer_id" not in df:
        df["customer_id"] = pd.Series(np.nan, index=df.index, dtype=object)
    if order_level:
        df["cents"] = (df["amount"] * 100).round().astype("int64")
    else:
        df["cents"] = (df["unit_price"] * 100).round().astype("int64") * df["quantity"]
    orders = df.groupby("order_id", sort=False).agg(
        customer_id=("customer_id", "first"), email=("email", "first"),
        ordered_at=("ordered_at", "first"), status=("status", "first"), cents=("cents", "sum"))
    status = orders["status"].astype(str).str.lower()
    kind = np.select([status.isin(VOID), status.isin(CREDIT)], ["v", "c"], "p")
    number = orders["customer_id"].str.strip()
    email = orders["email"].str.strip().str.lower()
    customer_key = ("c" + number).where(number.fillna("") != "", "e" + email)
    customer_key = customer_key.where(customer_key.fillna("e") != "e")
    # Each distinct identifier is hashed once, as a careful analyst would.
    unique = customer_key.dropna().unique()
    hashes = {k: hashlib.sha256((key + k).encode()).hexdigest() for k in unique}
    table = pd.DataFrame({
        "order_hash": [hashlib.sha256((key + "o" + o).encode()).hexdigest()
                       for o in orders.index],
        "customer_hash": customer_key.map(hashes).to_numpy(),
        "day": pd.to_datetime(orders["ordered_at"], utc=True).dt.floor("D").to_numpy(),
        "kind": kind,
        "cents": np.where(kind == "c", -np.abs(orders["cents"]), orders["cents"]),
    })
    table.to_pickle(out)


def score(values, n):
    below = values.rank(method="min").astype("int64") - 1
    return np.minimum(5, 1 + 5 * below // n)


def segments(path, start, end):
    o = pd.read_pickle(path)
    start, end = pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")
    w = o[(o["kind"] != "v") & o["customer_hash"].notna() & (o["day"] >= start)
          & (o["day"] <= end)]
    purchases = w[w["kind"] == "p"].groupby("customer_hash").agg(
        orders=("order_hash", "size"), last_day=("day", "max"))
    clv = w.groupby("customer_hash")["cents"].sum().rename("clv")
    p = purchases.join(clv, how="inner")
    n = len(p)
    r, f, m = score(p["last_day"], n), score(p["orders"], n), score(p["clv"], n)
    p["segment"] = np.select(
        [(r >= 4) & (f >= 4) & (m >= 4), (r >= 3) & (f >= 4), (r >= 3) & f.between(2, 3),
         (r >= 4) & (f == 1), (r == 3) & (f == 1), (r <= 2) & (f >= 4) & (m >= 4),
         (r <= 2) & (f >= 3), (r == 2) & (f <= 2)],
        ["champions", "loyal", "potential_loyalists", "new", "promising", "cant_lose",
         "at_risk", "hibernating"], "lost")
    stats = p.groupby("segment").agg(customers=("clv", "size"), clv_cents=("clv", "sum"),
                                     orders=("orders", "sum"))
    for name, row in stats.iterrows():
        print(json.dumps({"segment": name, "customers": int(row["customers"]),
                          "clv_cents": int(row["clv_cents"]), "orders": int(row["orders"])}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["load"] and len(sys.argv) in (5, 6):
        load(*sys.argv[2:])
    elif sys.argv[1:2] == ["segments"] and len(sys.argv) == 5:
        segments(*sys.argv[2:])
    else:
        sys.exit(__doc__)
