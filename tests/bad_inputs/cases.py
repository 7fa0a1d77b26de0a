"""Malformed inputs and bad options, one row each: what tessera must do with them.

Every input carries canary identifiers (CANARIES: a customer number, an e-mail, a name, an
order id), in good rows and in the bad cells themselves; run.py checks that none of them
reaches any output. Expectations follow the rules of README.md (exit 0 success with rejected
rows reported, 1 error, 2 usage or invalid input) and docs/ingest.md (reasons, file:line:column,
a damaged file stores nothing), not whatever the binary happens to do.

A case: Case(name, args, rc, reason, orders, files=..., ...). `args` run as `tessera ARGS` in
the case's scratch directory (store.db and the key are set through TESSERA_STORE/TESSERA_KEY);
`orders` is how many orders the command adds to the store (the base store holds BASE_ORDERS).
"""
import gzip
import io
import os
import shutil
import subprocess
import zipfile

CANARY_CUSTOMER = "CANARY-9931"
CANARY_EMAIL = "canary.7c1f@example.org"
CANARY_NAME = "Zebulon Quillfeather"
CANARY_ORDER = "ORD-CANARY-5521"
CANARIES = [CANARY_CUSTOMER, CANARY_EMAIL, CANARY_NAME, CANARY_ORDER, "canary.7c1f",
            "Quillfeather"]

BASE_ORDERS = (b"order_id,customer_id,ordered_at,amount,currency\n"
               b"B1,K1,2024-01-10,10.00,EUR\nB2,K2,2024-02-10,20.00,EUR\n"
               b"B3,K1,2024-03-10,30.00,EUR\n")

H = "order_id,customer_id,email,ordered_at,amount,currency"
# Two good rows (lines 2 and 3 under the header), both with canaries.
G = [f"{CANARY_ORDER},{CANARY_CUSTOMER},{CANARY_EMAIL},2024-03-01,10.00,EUR",
     "G2,K2,canary.7c1f@example.org,2024-03-02,20.00,EUR"]
INGEST = ["ingest", "in.csv", "--rejects", "rejects.csv", "--summary-json", "summary.json"]


def csv(*rows, header=H, eol="\n", good=True):
    lines = ([header] if header is not None else []) + (G if good else []) + list(rows)
    return (eol.join(lines) + eol).encode()


def row(order="R4", customer=CANARY_CUSTOMER, email=CANARY_EMAIL, date="2024-03-04",
        amount="15.00", currency="EUR"):
    return ",".join([order, customer, email, date, amount, currency])


def gz(data):
    return gzip.compress(data, mtime=0)


def line_items(*rows):
    return csv(*rows, header="order_id,customer_id,ordered_at,quantity,unit_price,currency",
               good=False)


def zipped(data):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("orders.csv", data)
    return buf.getvalue()


def mapping(text):
    return {"in.csv": csv(), "map.toml": text.encode()}


class Case:
    def __init__(self, name, args=None, rc=0, reason="", orders=0, files=None, stdin=None,
                 stdout=None, check_store=True, setup=None, as_nobody=False, needs=None):
        self.name = name
        self.args = INGEST if args is None else args
        self.rc, self.reason, self.orders = rc, reason, orders
        self.files = {"in.csv": csv()} if files is None else files
        self.stdin, self.stdout = stdin, stdout
        self.check_store, self.setup, self.as_nobody = check_store, setup, as_nobody
        self.needs = needs or []

    def skip_reason(self):
        for need in self.needs:
            if need.startswith("/") and not os.path.exists(need):
                return f"{need} does not exist here"
            if not need.startswith("/") and shutil.which(need) is None:
                return f"no {need} here"
        return None


def bad(name, content, reason, rc=0, orders=2, **kw):
    """An ingest of in.csv holding `content`."""
    return Case(name, files={"in.csv": content}, rc=rc, reason=reason, orders=orders, **kw)


def as_nobody(work):
    """The case runs as nobody (tests run as root, whom permissions do not stop)."""
    subprocess.run(["chown", "-R", "nobody:nogroup", work], check=True)


def unreadable(work):
    as_nobody(work)
    os.chmod(os.path.join(work, "in.csv"), 0)


def read_only_dir(work):
    as_nobody(work)
    os.makedirs(os.path.join(work, "ro"))
    os.chmod(os.path.join(work, "ro"), 0o555)


WINDOW = "window: a duration is a whole number of days, weeks or months such as 90d, 12w or 24m, at most 100 years"
EPOCH_MAP = ('[columns]\norder_id="order_id"\ncustomer_id="customer_id"\nemail="email"\n'
             'ordered_at="ordered_at"\namount="amount"\ncurrency="currency"\n'
             '[values]\ntimestamp_format = "epoch"\n')
CASES = [
    # --- Structure: header, line ends, encodings -------------------------------------------
    bad("no_header", csv(header=None), "its values are not shown", rc=2, orders=0),
    bad("no_header_names_first", csv(f"R4,{CANARY_NAME},x,2024-03-04,15.00,EUR", header=None,
                                     good=False), "its values are not shown", rc=2, orders=0),
    bad("no_header_name_in_first_cell", (f"{CANARY_NAME},{CANARY_EMAIL},2024-01-01,5\n").encode(),
        "its values are not shown", rc=2, orders=0),
    bad("header_unknown_names", csv(header="Alpha,Beta,Gamma,Delta,Epsilon,Zeta"),
        "Columns found: Alpha, Beta, Gamma, Delta, Epsilon, Zeta", rc=2, orders=0),
    bad("cr_only_line_ends", csv(row(), eol="\r"), "lines end with CR alone", rc=2, orders=0),
    bad("crlf_line_ends", csv(row(), eol="\r\n"), "", orders=3),
    bad("mixed_lf_crlf", (H + "\r\n" + G[0] + "\n" + G[1] + "\r\n" + row() + "\n").encode(), "",
        orders=3),
    # A CR alone inside an LF file is no line end (RFC 4180): the two rows it joins are one bad row.
    bad("mixed_lf_and_cr_alone", (H + "\n" + G[0] + "\n" + G[1] + "\r" + row() + "\n").encode(),
        "in.csv:3:7 (): expected 6 fields, found 11", orders=1),
    bad("utf8_bom", b"\xef\xbb\xbf" + csv(), "", orders=2),
    bad("utf16le_bom", b"\xff\xfe" + csv().decode().encode("utf-16-le"), "in.csv: line 1: header is not valid UTF-8", rc=2, orders=0),
    bad("utf16be_bom", b"\xfe\xff" + csv().decode().encode("utf-16-be"),
        "in.csv: line 1: header is not valid UTF-8", rc=2, orders=0),
    bad("utf16le_no_bom", csv().decode().encode("utf-16-le"), "in.csv", rc=2, orders=0),
    bad("utf32le_bom", b"\xff\xfe\x00\x00" + csv().decode().encode("utf-32-le"), "in.csv", rc=2,
        orders=0),
    bad("bom_only", b"\xef\xbb\xbf", "empty file", rc=2, orders=0),
    bad("invalid_utf8_customer", csv(row(customer="CANARY-9931\xff".encode("latin-1").decode(
        "latin-1"))).replace(b"CANARY-9931\xc3\xbf", b"CANARY-9931\xff"),
        "in.csv:4:2 (customer_id): invalid UTF-8"),
    bad("invalid_utf8_overlong", csv(row()).replace(b"R4,CANARY-9931", b"R4,CANARY-9931\xc0\xaf"),
        "in.csv:4:2 (customer_id): invalid UTF-8"),
    bad("invalid_utf8_surrogate", csv(row()).replace(b"R4,CANARY-9931",
                                                     b"R4,CANARY-9931\xed\xa0\x80"),
        "in.csv:4:2 (customer_id): invalid UTF-8"),
    bad("invalid_utf8_truncated_sequence", csv(row()).replace(b"R4,CANARY-9931",
                                                              b"R4,CANARY-9931\xe2\x82"),
        "in.csv:4:2 (customer_id): invalid UTF-8"),
    bad("invalid_utf8_in_header", csv(header=H.replace("currency", "curr\xff")).replace(
        b"curr\xc3\xbf", b"curr\xff"), "in.csv", rc=2, orders=0),
    bad("latin1_name_in_email", csv(row(email="z\xfcbulon@example.org")).replace(
        b"z\xc3\xbcbulon", b"z\xfcbulon"), "in.csv:4:3 (email): invalid UTF-8"),
    bad("nul_byte_in_field", csv(row()).replace(b"R4,CANARY-9931", b"R4,CANARY\x00-9931"),
        "in.csv:4:2 (customer_id)"),
    bad("nul_bytes_only", b"\x00" * 4096, "in.csv", rc=2, orders=0),
    bad("control_char_in_customer", csv(row(customer="CANARY\x07-9931")),
        "in.csv:4:2 (customer_id)"),
    bad("binary_garbage", bytes(range(256)) * 16, "in.csv", rc=2, orders=0),
    # --- Quotes and field counts ------------------------------------------------------------
    bad("unterminated_quote_last_row", csv(row(amount='"15.00')),
        "in.csv:4:5 (amount): unterminated quoted field"),
    # The reader resynchronises at the next line that reads as a row: R5 lands.
    bad("unterminated_quote_resynchronises", csv(row(customer='"CANARY-9931'), row(order="R5")),
        "in.csv:4:2 (customer_id): unterminated quoted field", orders=3),
    # A quote inside an unquoted field, or after a closing quote, is read as spreadsheets read
    # it (a literal character): the value is still a valid customer number.
    bad("stray_quote_in_field_is_literal", csv(row(customer='CANA"RY-9931')), "", orders=3),
    bad("text_after_closing_quote_is_kept", csv(row(customer='"CANARY"-9931')), "", orders=3),
    bad("quoted_newline_in_customer_number", csv(row(customer='"CANARY\n-9931"')),
        "in.csv:4:2 (customer_id): customer number contains a control character"),
    bad("too_many_columns", csv(row() + "," + CANARY_NAME), "in.csv:4:7 (): expected 6 fields, found 7"),
    bad("too_few_columns", csv("R4," + CANARY_CUSTOMER + ",2024-03-04"),
        "in.csv:4:4 (ordered_at): expected 6 fields, found 3"),
    bad("empty_line_between_rows", csv("", row()), "", orders=3),
    bad("only_delimiters_row", csv(",,,,,"), "in.csv:4:"),
    bad("duplicate_header_used_column", csv(header=H.replace("email", "customer_id")),
        "customer_id", rc=2, orders=0),
    bad("duplicate_header_amount", csv(header=H.replace("currency", "amount")), "amount", rc=2,
        orders=0),
    bad("empty_file", b"", "empty file", rc=2, orders=0),
    bad("newlines_only", b"\n\n\n", "in.csv", rc=2, orders=0),
    bad("header_only", (H + "\n").encode(), "", orders=0),
    bad("header_only_no_newline", H.encode(), "", orders=0),
    bad("huge_field", csv(row(customer=CANARY_CUSTOMER + "x" * 2_000_000)),
        "in.csv:4:2 (customer_id)"),
    bad("wide_line_many_fields", csv(row() + ("," + CANARY_NAME) * 200_000),
        "in.csv:4:7 (): expected 6 fields, found 200006"),
    bad("huge_line_over_row_limit", csv(row() + ("," + CANARY_NAME) * 850_000, row(order="R5")),
        "in.csv:4: row longer than 16777216 bytes", orders=3),
    bad("huge_line_no_newline_at_end", csv() + (CANARY_NAME * 600_000).encode(), "in.csv:4:"),
    bad("huge_header", (H + ",x" * 9_000_000 + "\n").encode() + b"G1,K1,,2024-01-01,1,EUR\n",
        "in.csv: line 1: first row longer than 16777216 bytes", rc=2, orders=0),
    # --- Dates -------------------------------------------------------------------------------
    bad("date_year_zero", csv(row(date="0000-06-01")), "in.csv:4:4 (ordered_at)"),
    bad("date_year_10000", csv(row(date="10000-01-01")), "in.csv:4:4 (ordered_at)"),
    bad("date_past_9999_by_offset", csv(row(date="9999-12-31T23:59:59-12:00")),
        "in.csv:4:4 (ordered_at)"),
    bad("date_before_0001_by_offset", csv(row(date="0001-01-01T00:00:00+01:00")),
        "in.csv:4:4 (ordered_at)"),
    bad("date_ambiguous_slashes", csv(row(date="01/02/2024")), "in.csv:4:4 (ordered_at)"),
    bad("date_dots_no_such_day", csv(row(date="32.01.2024")), "in.csv:4:4 (ordered_at)"),
    bad("date_invalid_day", csv(row(date="2024-02-30")), "in.csv:4:4 (ordered_at): no such date"),
    bad("date_feb_29_no_leap_year", csv(row(date="2023-02-29")),
        "in.csv:4:4 (ordered_at): no such date"),
    bad("date_month_13", csv(row(date="2024-13-01")), "in.csv:4:4 (ordered_at)"),
    bad("date_day_zero", csv(row(date="2024-03-00")), "in.csv:4:4 (ordered_at)"),
    bad("time_hour_25", csv(row(date="2024-03-04T25:00:00")), "in.csv:4:4 (ordered_at)"),
    bad("time_minute_60", csv(row(date="2024-03-04T10:60:00")), "in.csv:4:4 (ordered_at)"),
    bad("offset_out_of_range", csv(row(date="2024-03-04T10:00:00+25:00")),
        "in.csv:4:4 (ordered_at)"),
    bad("date_with_trailing_text", csv(row(date="2024-03-04" + CANARY_NAME)),
        "in.csv:4:4 (ordered_at)"),
    bad("date_is_an_identifier", csv(row(date=CANARY_EMAIL)), "in.csv:4:4 (ordered_at)"),
    bad("date_empty", csv(row(date="")), "in.csv:4:4 (ordered_at)"),
    Case("epoch_out_of_range", files={
        "in.csv": csv(row(order="E1", date="1709300000"), row(date="99999999999999"), good=False),
        "map.toml": EPOCH_MAP.encode()},
        args=INGEST + ["--mapping", "map.toml"], reason="in.csv:3:4 (ordered_at)", orders=1),
    # --- Amounts -----------------------------------------------------------------------------
    bad("amount_negative_is_a_return", csv(row(amount="-50.00")), "", orders=3),
    bad("amount_zero_is_a_purchase", csv(row(amount="0")), "", orders=3),
    bad("amount_nan", csv(row(amount="NaN")), "in.csv:4:5 (amount)"),
    bad("amount_inf", csv(row(amount="inf")), "in.csv:4:5 (amount)"),
    bad("amount_minus_infinity", csv(row(amount="-Infinity")), "in.csv:4:5 (amount)"),
    bad("amount_1e400", csv(row(amount="1e400")), "in.csv:4:5 (amount)"),
    bad("amount_exponent", csv(row(amount="1e5")), "in.csv:4:5 (amount)"),
    bad("amount_huge_integer", csv(row(amount="9" * 40)), "in.csv:4:5 (amount)"),
    bad("amount_over_int64_minor_units", csv(row(amount="92233720368547758.08")),
        "in.csv:4:5 (amount)"),
    # Thousands separators and currency markers are read (README: Money is exact).
    bad("amount_thousands_separator_is_read", csv(row(amount='"1,234.50"')), "", orders=3),
    bad("amount_misplaced_thousands_separator", csv(row(amount='"1,23.50"')),
        "in.csv:4:5 (amount): amount: misplaced thousands separator"),
    bad("amount_thousands_separator_comma_decimal", csv(row(amount='"1.234,50"')),
        "in.csv:4:5 (amount)"),
    bad("amount_currency_symbol_is_stripped", csv(row(amount="€15.00")), "", orders=3),
    bad("amount_currency_code_is_stripped", csv(row(amount="15.00 EUR")), "", orders=3),
    bad("amount_two_currency_symbols", csv(row(amount="€$15.00")), "in.csv:4:5 (amount)"),
    bad("amount_hex", csv(row(amount="0x10")), "in.csv:4:5 (amount)"),
    bad("amount_two_points", csv(row(amount="1.2.3")), "in.csv:4:5 (amount)"),
    bad("amount_double_minus", csv(row(amount="--5")), "in.csv:4:5 (amount)"),
    bad("amount_empty", csv(row(amount="")), "in.csv:4:5 (amount): amount is empty"),
    bad("amount_is_an_identifier", csv(row(amount=CANARY_CUSTOMER)), "in.csv:4:5 (amount)"),
    # --- Currencies, conflicting lines of one order -------------------------------------------
    bad("currency_unknown_code", csv(row(currency="EURO")), "in.csv:4:6 (currency)"),
    bad("currency_symbol", csv(row(currency="€")), "in.csv:4:6 (currency)"),
    # An empty cell takes the mapping's currency (generic: EUR), as a missing column does.
    bad("currency_empty_cell_takes_the_default", csv(row(currency="")), "", orders=3),
    bad("currency_lower_case_is_read", csv(row(currency="eur")), "", orders=3),
    bad("currency_is_an_identifier", csv(row(currency=CANARY_NAME)), "in.csv:4:6 (currency)"),
    bad("mixed_currency_in_one_order",
        line_items(f"L1,{CANARY_CUSTOMER},2024-03-01,1,10.00,EUR",
                   f"L1,{CANARY_CUSTOMER},2024-03-01,2,5.00,USD"),
        "in.csv:3:6 (currency)", orders=1),
    bad("conflicting_line_customer",
        line_items(f"L1,{CANARY_CUSTOMER},2024-03-01,1,10.00,EUR",
                   "L1,K77,2024-03-01,2,5.00,EUR"),
        "in.csv:3:2 (customer_id)", orders=1),
    bad("conflicting_line_date",
        line_items(f"L1,{CANARY_CUSTOMER},2024-03-01,1,10.00,EUR",
                   f"L1,{CANARY_CUSTOMER},2024-03-09,2,5.00,EUR"),
        "in.csv:3:3 (ordered_at)", orders=1),
    bad("line_quantity_not_a_number",
        line_items(f"L1,{CANARY_CUSTOMER},2024-03-01,one,10.00,EUR"), "in.csv:2:4 (quantity)",
        orders=0),
    bad("conflicting_order_level_repeat", csv(row(order="G2", amount="99.00")), "", orders=2),
    bad("duplicate_row_skipped", csv(G[1]), "", orders=2),
    # --- Identifiers ---------------------------------------------------------------------------
    bad("email_without_at", csv(row(customer="", email="canary.7c1f.example.org")),
        "in.csv:4:3 (email)"),
    bad("email_two_ats", csv(row(customer="", email="canary@7c1f@example.org")),
        "in.csv:4:3 (email)"),
    bad("no_identifier_is_anonymous", csv(row(customer="", email="")), "", orders=3),
    bad("order_id_missing", csv(row(order="")), "in.csv:4:1 (order_id)"),
    bad("order_id_too_long", csv(row(order=CANARY_ORDER + "9" * 300)), "in.csv:4:1 (order_id)"),
    # --- JSON Lines ----------------------------------------------------------------------------
    Case("jsonl_invalid_line", files={"in.jsonl": (
        '{"order_id":"J1","customer_id":"CANARY-9931","ordered_at":"2024-03-01","amount":"5"}\n'
        '{"order_id":"J2","customer_id":"CANARY-9931","ordered_at":"2024-03-0\n').encode()},
        args=["ingest", "in.jsonl", "--rejects", "rejects.csv"], reason="in.jsonl:2", orders=1),
    Case("jsonl_nested_value", files={"in.jsonl": (
        '{"order_id":"J1","customer_id":{"name":"Zebulon Quillfeather"},'
        '"ordered_at":"2024-03-01","amount":"5"}\n'
        '{"order_id":"J2","customer_id":"CANARY-9931","ordered_at":"2024-03-01","amount":"5"}\n'
    ).encode()}, args=["ingest", "in.jsonl", "--rejects", "rejects.csv"], reason="in.jsonl:1",
        orders=1),
    Case("jsonl_not_an_object", files={"in.jsonl": (
        '{"order_id":"J1","customer_id":"CANARY-9931","ordered_at":"2024-03-01","amount":"5"}\n'
        '["J2","CANARY-9931"]\n').encode()},
        args=["ingest", "in.jsonl", "--rejects", "rejects.csv"], reason="in.jsonl:2", orders=1),
    Case("jsonl_nul_byte", files={"in.jsonl": (
        b'{"order_id":"J1","customer_id":"CANARY-9931","ordered_at":"2024-03-01","amount":"5"}\n'
        b'{"order_id":"J2","customer_id":"CANARY\x00-9931","ordered_at":"2024-03-01",'
        b'"amount":"5"}\n')}, args=["ingest", "in.jsonl", "--rejects", "rejects.csv"],
        reason="in.jsonl:2", orders=1),
    Case("jsonl_amount_nan", files={"in.jsonl": (
        '{"order_id":"J1","customer_id":"CANARY-9931","ordered_at":"2024-03-01","amount":"5"}\n'
        '{"order_id":"J2","customer_id":"CANARY-9931","ordered_at":"2024-03-01","amount":NaN}\n'
    ).encode()}, args=["ingest", "in.jsonl", "--rejects", "rejects.csv"], reason="in.jsonl:2",
        orders=1),
    Case("jsonl_first_line_not_json", files={"in.jsonl": (
        '{"order_id":"J1","customer_id":"CANARY-9931","ordered_at":"2024-03-01","amount":NaN}\n'
    ).encode()}, args=["ingest", "in.jsonl"], rc=2,
        reason="in.jsonl: line 1: the first line is not a JSON object"),
    # --- Compressed and disguised files -------------------------------------------------------
    bad("gzip_truncated", gz(csv(*[row(order=f"R{i}") for i in range(3000)]))[:-40],
        "in.csv: the input is damaged", rc=2, orders=0),
    bad("gzip_truncated_in_header", gz(csv())[:6], "in.csv: the input is damaged", rc=2,
        orders=0),
    bad("gzip_truncated_short_file", gz(csv(row()))[:-5], "in.csv: the input is damaged", rc=2,
        orders=0),
    bad("gzip_corrupt_crc", (lambda b: b[:-8] + bytes([b[-8] ^ 0xFF]) + b[-7:])(gz(csv(row()))),
        "in.csv: the input is damaged", rc=2, orders=0),
    bad("gzip_corrupt_deflate", (lambda b: b[:20] + b"\xff" * 16 + b[36:])(gz(csv(row()) * 50)),
        "in.csv: the input is damaged", rc=2, orders=0),
    bad("gzip_of_nothing", gz(b""), "empty file", rc=2, orders=0),
    # zlib ends a gzip file at the end of its last member and ignores what follows (gzip(1)
    # warns and loads too): the file's rows are whole, so they load.
    bad("gzip_with_trailing_garbage", gz(csv(row())) + b"\x00garbage" + CANARY_NAME.encode(), "",
        orders=3),
    bad("gzip_two_members", gz(csv()) + gz((row() + "\n").encode()), "", orders=3),
    bad("gzip_named_csv_loads", gz(csv(row())), "", orders=3),
    bad("zip_disguised_as_csv", zipped(csv(row())), "in.csv", rc=2, orders=0),
    Case("gzip_file_named_gz", files={"in.csv.gz": gz(csv(row()))[:-30]},
         args=["ingest", "in.csv.gz"], rc=2, reason="in.csv.gz", orders=0),
    # --- Loads over their memory budget (temporary files in tmp/, checked for canaries) --------
    Case("spilled_bad_rows", files={"in.csv": csv(row(date="2024-02-30"), row(order="R5"))},
         args=INGEST + ["--memory-budget", "1", "--temp-dir", "tmp"],
         reason="in.csv:4:4 (ordered_at): no such date", orders=3),
    Case("spilled_conflicting_line", files={"in.csv": line_items(
        f"L1,{CANARY_CUSTOMER},2024-03-01,1,10.00,EUR", "L1,K77,2024-03-01,2,5.00,EUR")},
         args=INGEST + ["--memory-budget", "1", "--temp-dir", "tmp"],
         reason="in.csv:3:2 (customer_id)", orders=1),
    Case("spilled_gzip_truncated",
         files={"in.csv": gz(csv(*[row(order=f"R{i}") for i in range(3000)]))[:-40]},
         args=INGEST + ["--memory-budget", "1", "--temp-dir", "tmp"], rc=2,
         reason="in.csv: the input is damaged"),
    # --- Files of people (--kind people) --------------------------------------------------------
    Case("people_missing_identifier", files={"people.csv": (
        f"customer_id,email,age_band\n,,25-34\n{CANARY_CUSTOMER},{CANARY_EMAIL},35-44\n").encode()},
         args=["ingest", "people.csv", "--kind", "people", "--rejects", "rejects.csv"],
         reason="people.csv:2"),
    Case("people_identifier_in_attribute", files={"people.csv": (
        f"customer_id,note\n{CANARY_CUSTOMER},{CANARY_EMAIL}\nK2,fine\n").encode()},
         args=["ingest", "people.csv", "--kind", "people", "--rejects", "rejects.csv"],
         reason="people.csv:2"),
    Case("people_bad_email", files={"people.csv": (
        f"email,tariff\ncanary.7c1f@@example.org,Max\n{CANARY_EMAIL},Max\n").encode()},
         args=["ingest", "people.csv", "--kind", "people", "--rejects", "rejects.csv"],
         reason="people.csv:2:1 (email)"),
    Case("people_truncated_gzip", files={"people.csv.gz": gz(
        ("customer_id,tariff\n" + "".join(f"K{i},Max\n" for i in range(5000))).encode())[:-30]},
         args=["ingest", "people.csv.gz", "--kind", "people"], rc=2,
         reason="people.csv.gz: the input is damaged"),
    Case("people_corrupt_small_gzip", files={"people.csv.gz": (lambda b: b[:-8] + bytes(
        [b[-8] ^ 0xFF]) + b[-7:])(gz(f"customer_id,tariff\n{CANARY_CUSTOMER},Max\n".encode()))},
         args=["ingest", "people.csv.gz", "--kind", "people"], rc=2,
         reason="people.csv.gz: the input is damaged"),
    # --- Files that are not there or cannot be read -------------------------------------------
    Case("directory_as_input", files={"in.csv": None}, rc=2, reason="in.csv", orders=0),
    Case("missing_file", files={}, rc=2, reason="in.csv", orders=0),
    Case("missing_second_file_stores_nothing", files={"in.csv": csv(row())},
         args=["ingest", "in.csv", "gone.csv"], rc=2, reason="gone.csv", orders=0),
    Case("damaged_second_file_stores_nothing",
         files={"in.csv": csv(row()), "b.csv.gz": gz(csv(row(order="R9")) * 100)[:-20]},
         args=["ingest", "in.csv", "b.csv.gz"], rc=2, reason="b.csv.gz", orders=0),
    # Permissions are the machine's, not the input's: an error (1), like a key others may read.
    Case("unreadable_file", files={"in.csv": csv(row())}, rc=1,
         reason="in.csv: permission denied", orders=0,
         setup=unreadable, as_nobody=True, needs=["setpriv"]),
    Case("dev_null_as_input", files={}, args=["ingest", "/dev/null"], rc=2, reason="empty file"),
    Case("empty_stdin", files={}, args=["ingest", "-"], stdin=b"", rc=2, reason="empty file"),
    Case("stdin_truncated_last_row", files={},
         args=["ingest", "-", "--rejects", "rejects.csv"], stdin=csv()[:-12], orders=1,
         reason="-:3:5 (amount): expected 6 fields, found 4"),
    Case("same_file_twice_stores_once", files={"in.csv": csv(row())},
         args=["ingest", "in.csv", "in.csv"], orders=3),
    # --- Options ------------------------------------------------------------------------------
    Case("window_zero", args=["segments", "--window", "0m", "--as-of", "2024-06-30"], rc=2,
         reason=WINDOW),
    Case("window_too_long", args=["segments", "--window", "2000y", "--as-of", "2024-06-30"],
         rc=2, reason=WINDOW),
    Case("window_garbage", args=["segments", "--window", "CANARY-9931", "--as-of", "2024-06-30"],
         rc=2, reason=WINDOW),
    Case("window_negative", args=["profiles", "--window", "-3m", "--as-of", "2024-06-30"], rc=2,
         reason=WINDOW),
    Case("as_of_invalid_day", args=["segments", "--as-of", "2024-02-30"], rc=2, reason="--as-of"),
    Case("as_of_year_10000", args=["segments", "--as-of", "10000-01-01"], rc=2, reason="--as-of"),
    Case("as_of_words", args=["segments", "--as-of", "yesterday"], rc=2, reason="--as-of"),
    Case("as_of_us_format", args=["profiles", "--as-of", "06/30/2024"], rc=2, reason="--as-of"),
    Case("batch_size_zero", args=INGEST + ["--batch-size", "0"], rc=2, reason="--batch-size"),
    Case("max_rejects_negative", args=INGEST + ["--max-rejects", "-1"], rc=2,
         reason="--max-rejects"),
    Case("memory_budget_garbage", args=INGEST + ["--memory-budget", "lots"], rc=2,
         reason="--memory-budget"),
    Case("unknown_option", args=INGEST + ["--frobnicate"], rc=2, reason="--frobnicate"),
    Case("ingest_without_files", args=["ingest"], rc=2, reason="files"),
    Case("unknown_subcommand", args=["ingset", "in.csv"], rc=2, reason="subcommand"),
    Case("kind_unknown", args=INGEST + ["--kind", "customers"], rc=2, reason="--kind"),
    Case("generate_zero_customers", args=["generate", "--customers", "0", "--months", "2",
                                          "-o", "g.csv"], rc=2, reason="--customers"),
    Case("generate_bad_end", args=["generate", "--customers", "5", "--months", "2", "--end",
                                   "2024-13-01", "-o", "g.csv"], rc=2, reason="--end"),
    Case("temp_dir_missing", args=INGEST + ["--temp-dir", "no/such/dir", "--memory-budget", "1"],
         rc=2, reason="--temp-dir: Directory does not exist: no/such/dir"),
    Case("key_missing", args=INGEST + ["--key", "no-such.key"], rc=2, reason="no-such.key"),
    # A new store's directories are made, as for the default location (~/.local/share/tessera).
    Case("store_in_new_directory", args=["ingest", "in.csv", "--store", "new/dir/store.db"]),
    # The store is the system of record, not input: what is wrong with it is an error (1).
    Case("store_is_a_directory", files={"in.csv": csv(), "sdir": None},
         args=["ingest", "in.csv", "--store", "sdir"], rc=1, reason="cannot open store sdir"),
    Case("store_is_not_a_database", files={"in.csv": csv(), "text.db": csv()},
         args=["ingest", "in.csv", "--store", "text.db"], rc=1,
         reason="text.db is not a Tessera store"),
    # --- Mapping files ------------------------------------------------------------------------
    Case("mapping_toml_syntax_error", files=mapping('[columns\norder_id = "order_id"\n'),
         args=INGEST + ["--mapping", "map.toml"], rc=2, reason="map.toml"),
    Case("mapping_unknown_key", files=mapping('[columns]\nordr_id = "order_id"\n'),
         args=INGEST + ["--mapping", "map.toml"], rc=2, reason="ordr_id"),
    Case("mapping_unknown_section", files=mapping('[colums]\norder_id = "order_id"\n'),
         args=INGEST + ["--mapping", "map.toml"], rc=2, reason="colums"),
    Case("mapping_wrong_type", files=mapping('[source]\nheader = "yes"\n'),
         args=INGEST + ["--mapping", "map.toml"], rc=2, reason="header"),
    Case("mapping_bad_delimiter", files=mapping('[source]\ndelimiter = "::"\n'),
         args=INGEST + ["--mapping", "map.toml"], rc=2, reason="delimiter"),
    Case("mapping_bad_timezone", files=mapping(
        '[columns]\norder_id="order_id"\ncustomer_id="customer_id"\nordered_at="ordered_at"\n'
        'amount="amount"\n[values]\ntimezone = "Mars/Olympus"\n'),
         args=INGEST + ["--mapping", "map.toml"], rc=2, reason="unknown time zone"),
    Case("mapping_bad_currency", files=mapping(
        '[columns]\norder_id="order_id"\ncustomer_id="customer_id"\nordered_at="ordered_at"\n'
        'amount="amount"\n[values]\ncurrency = "EURO"\n'),
         args=INGEST + ["--mapping", "map.toml"], rc=2,
         reason="mapping 'map.toml': currency must be an ISO 4217 code"),
    Case("mapping_bad_phone_country", files=mapping('[values]\ndefault_phone_country = "XX"\n'),
         args=INGEST + ["--mapping", "map.toml"], rc=2, reason="default_phone_country"),
    Case("mapping_column_not_in_file", files=mapping(
        '[columns]\norder_id="Auftrag"\ncustomer_id="Kunde"\nordered_at="Datum"\n'
        'amount="Betrag"\n'), args=INGEST + ["--mapping", "map.toml"], rc=2,
         reason="cannot map the columns with mapping 'map.toml'"),
    Case("mapping_empty_file", files=mapping(""), args=INGEST + ["--mapping", "map.toml"], rc=2,
         reason="in.csv"),
    Case("mapping_binary", files={"in.csv": csv(), "map.toml": b"\x00\xff\xfe" * 40},
         args=INGEST + ["--mapping", "map.toml"], rc=2, reason="map.toml"),
    Case("mapping_is_a_directory", files={"in.csv": csv(), "map.toml": None},
         args=INGEST + ["--mapping", "map.toml"], rc=2, reason="map.toml"),
    Case("mapping_missing", args=INGEST + ["--mapping", "gone.toml"], rc=2, reason="gone.toml"),
    Case("mapping_bad_timestamp_format", files=mapping('[values]\ntimestamp_format = "%Q"\n'),
         args=INGEST + ["--mapping", "map.toml"], rc=2,
         reason="timestamp format '%Q': unknown field"),
    # --- Outputs that cannot be written ---------------------------------------------------------
    Case("rejects_to_dev_full", files={"in.csv": csv(row(date="bad"))},
         args=["ingest", "in.csv", "--rejects", "/dev/full"], rc=1, reason="/dev/full",
         needs=["/dev/full"], orders=2),
    Case("summary_json_to_dev_full", args=["ingest", "in.csv", "--summary-json", "/dev/full"],
         rc=1, reason="/dev/full", needs=["/dev/full"], orders=2),
    Case("segments_to_dev_full", args=["segments", "--as-of", "2024-06-30", "-o", "/dev/full"],
         rc=1, reason="/dev/full", needs=["/dev/full"]),
    Case("profiles_to_dev_full", args=["profiles", "--as-of", "2024-06-30", "-o", "/dev/full"],
         rc=1, reason="/dev/full", needs=["/dev/full"]),
    Case("generate_to_dev_full", args=["generate", "--customers", "50", "--months", "2", "--end",
                                       "2024-06-30", "-o", "/dev/full"], rc=1,
         reason="No space left", needs=["/dev/full"]),
    Case("generate_stdout_to_dev_full", args=["generate", "--customers", "50", "--months", "2",
                                              "--end", "2024-06-30"], stdout="/dev/full", rc=1,
         reason="No space left", needs=["/dev/full"]),
    Case("orders_list_stdout_to_dev_full", args=["orders", "list"], stdout="/dev/full", rc=1,
         reason="standard output", needs=["/dev/full"]),
    Case("segments_stdout_to_dev_full", args=["segments", "--as-of", "2024-06-30"],
         stdout="/dev/full", rc=1, reason="standard output", needs=["/dev/full"]),
    Case("profiles_stdout_to_dev_full", args=["profiles", "--as-of", "2024-06-30"],
         stdout="/dev/full", rc=1, reason="standard output", needs=["/dev/full"]),
    # The load's summary and progress go to stderr: a full stdout does not matter to ingest.
    Case("ingest_writes_nothing_to_stdout", args=["ingest", "in.csv"], stdout="/dev/full",
         needs=["/dev/full"], orders=2),
    Case("rejects_in_missing_directory", files={"in.csv": csv(row(date="bad"))},
         args=["ingest", "in.csv", "--rejects", "no/such/rejects.csv"], rc=2,
         reason="no/such/rejects.csv"),
    Case("rejects_is_a_directory", files={"in.csv": csv(row(date="bad")), "out": None},
         args=["ingest", "in.csv", "--rejects", "out"], rc=2, reason="out"),
    Case("rejects_in_read_only_directory", files={"in.csv": csv(row(date="bad"))},
         args=["ingest", "in.csv", "--rejects", "ro/rejects.csv"], rc=1,
         reason="cannot write ro/rejects.csv: Permission denied",
         setup=read_only_dir, as_nobody=True, needs=["setpriv"]),
    Case("rejects_in_proc", files={"in.csv": csv(row(date="bad"))},
         args=["ingest", "in.csv", "--rejects", "/proc/tessera-rejects.csv"], rc=2,
         reason="/proc/tessera-rejects.csv"),
    Case("summary_json_in_missing_directory",
         args=["ingest", "in.csv", "--summary-json", "no/such/summary.json"], rc=2,
         reason="no/such/summary.json"),
    Case("summary_json_is_a_directory", files={"in.csv": csv(), "out": None},
         args=["ingest", "in.csv", "--summary-json", "out"], rc=2, reason="out"),
    Case("segments_output_in_missing_directory",
         args=["segments", "--as-of", "2024-06-30", "-o", "no/such/segments.txt"], rc=2,
         reason="no/such/segments.txt"),
    # Destinations (docs/destinations.md): a bad destination is refused and nothing is added.
    Case("destination_follows_malformed",
         args=["destination", "add", "csv", "--name", "d", "--follows", "champions", "--dir", "."],
         rc=2, reason="expected segment:<key>"),
    Case("destination_secret_value_for_its_name",
         args=["destination", "add", "webhook", "--name", "d", "--follows", "segment:champions",
               "--url", "http://127.0.0.1:9/", "--secret-env", "s3cret=value!"],
         rc=2, reason="NAME of an environment variable"),
    Case("destination_url_not_http",
         args=["destination", "add", "webhook", "--name", "d", "--follows", "segment:champions",
               "--url", "ftp://127.0.0.1/?token=t0ken", "--secret-env", "HOOK_SECRET"],
         rc=2, reason="starts with http:// or https://"),
    Case("destination_name_with_a_slash",
         args=["destination", "add", "csv", "--name", "../d", "--follows", "segment:champions",
               "--dir", "."],
         rc=2, reason="destination name is 1 to 64"),
    Case("destination_audience_unknown",
         args=["destination", "add", "csv", "--name", "d", "--follows", "audience:nope",
               "--dir", "."],
         rc=2, reason="no saved audience named 'nope'"),
    Case("destination_log_unknown", args=["destination", "log", "nope"], rc=2,
         reason="no destination named 'nope'"),
    Case("destination_run_without_snapshot", args=["destination", "run"], rc=2,
         reason="no snapshot yet"),
]
