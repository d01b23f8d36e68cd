"""The one xlsxwriter wrapper: Chinese-friendly formats, formulas never interpreted, constant memory."""

from __future__ import annotations

import io
import os
from datetime import date, datetime
from decimal import Decimal

import xlsxwriter

MONEY_FORMAT = "#,##0.00"


class Workbook:
    """A thin wrapper so every export shares formats and safety options.

    ``strings_to_formulas`` is off so a cell that starts with '=' (e.g. a name typed by a user) is text,
    never a formula (formula injection); ``constant_memory`` streams rows to disk for big sheets.

    With ``constant_memory`` xlsxwriter keeps each sheet's rows in a temporary file in ``tmpdir`` until
    ``close()``: that file is unlinked as soon as it is open (the open handle keeps the rows), so a killed
    process leaves no rows — no personal data — on disk; an empty file stands in its name, for
    xlsxwriter to remove. Only while ``close()`` assembles the workbook are there named temporary files,
    in ``tmpdir`` (give one that is cleaned up: exports/services.py ``scratch_dir``).
    """

    def __init__(self, target=None, *, constant_memory: bool = False, tmpdir: str | None = None):
        self.buffer = target if target is not None else io.BytesIO()
        self.constant_memory = constant_memory
        self.book = xlsxwriter.Workbook(self.buffer, {
            "tmpdir": tmpdir,
            "constant_memory": constant_memory,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "default_date_format": "yyyy-mm-dd",
            "in_memory": not constant_memory,
        })
        font = {"font_name": "SimSun", "font_size": 11}
        self.formats = {
            "title": self.book.add_format({**font, "bold": True, "font_size": 16, "align": "center",
                                           "valign": "vcenter"}),
            "header": self.book.add_format({**font, "bold": True, "bg_color": "#DDEBF7", "border": 1,
                                            "align": "center", "valign": "vcenter", "text_wrap": True}),
            "text": self.book.add_format({**font, "border": 1, "valign": "vcenter", "text_wrap": True}),
            "plain": self.book.add_format({**font, "text_wrap": True, "valign": "top"}),
            "plain_right": self.book.add_format({**font, "align": "right"}),
            "center": self.book.add_format({**font, "border": 1, "align": "center", "valign": "vcenter"}),
            "money": self.book.add_format({**font, "border": 1, "num_format": MONEY_FORMAT}),
            "total_label": self.book.add_format({**font, "bold": True, "border": 1, "bg_color": "#F2F2F2"}),
            "total_money": self.book.add_format({**font, "bold": True, "border": 1, "bg_color": "#F2F2F2",
                                                 "num_format": MONEY_FORMAT}),
            "date": self.book.add_format({**font, "border": 1, "num_format": "yyyy年m月d日"}),
            # ledger cells (exports/ledger.py): no wrapping, so a million rows stay one line each
            "cell": self.book.add_format({**font, "border": 1}),
            "int": self.book.add_format({**font, "border": 1, "num_format": "0"}),
            "iso_date": self.book.add_format({**font, "border": 1, "num_format": "yyyy-mm-dd"}),
            "iso_datetime": self.book.add_format({**font, "border": 1, "num_format": "yyyy-mm-dd hh:mm:ss"}),
        }

    def sheet(self, name: str):
        ws = self.book.add_worksheet(name[:31])
        rows_file = getattr(ws, "row_data_filename", None) if self.constant_memory else None
        if rows_file:
            os.unlink(rows_file)
            with open(rows_file, "x"):  # empty; xlsxwriter removes it when it has copied the rows
                pass
        return ws

    def write_money(self, ws, row: int, col: int, value: Decimal | None, fmt: str = "money"):
        """Money cells get the Decimal itself; xlsx keeps numbers as doubles, which hold any amount
        below 2**53 fen exactly to two places."""
        if value is None:
            ws.write_blank(row, col, None, self.formats["text"])
        else:
            ws.write_number(row, col, value, self.formats[fmt])

    def write_header(self, ws, row: int, headers: list[str], widths: list[float] | None = None,
                     *, freeze: bool = False) -> int:
        """A header row (Chinese headers, wrapped); optional column widths and a frozen pane below it.
        Returns the next row."""
        for col, text in enumerate(headers):
            ws.write_string(row, col, text, self.formats["header"])
        for col, width in enumerate(widths or []):
            ws.set_column(col, col, width)
        if freeze:
            ws.freeze_panes(row + 1, 0)
        return row + 1

    def write_cells(self, ws, row: int, values: list, kinds: list[str], *, total: bool = False) -> int:
        """One row of typed cells: kinds are text | money | int | date. ``total`` uses the totals
        formats (bold, shaded). Returns the next row."""

        text_fmt = self.formats["total_label" if total else "text"]
        for col, (value, kind) in enumerate(zip(values, kinds, strict=True)):
            if kind == "money":
                self.write_money(ws, row, col, value, "total_money" if total else "money")
            elif value is None or value == "":
                ws.write_blank(row, col, None, text_fmt)
            elif kind == "int":
                ws.write_number(row, col, value, text_fmt if total else self.formats["center"])
            elif kind == "date" and isinstance(value, date):
                ws.write_datetime(row, col, datetime(value.year, value.month, value.day), self.formats["date"])
            else:
                ws.write_string(row, col, str(value), text_fmt)
        return row + 1

    def close(self) -> bytes | None:
        self.book.close()
        if isinstance(self.buffer, io.BytesIO):
            return self.buffer.getvalue()
        return None


# A spreadsheet program reads a CSV cell that starts with one of these as a formula (OWASP "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A value as a CSV cell that a spreadsheet shows as typed: a text starting like a formula is prefixed
    with an apostrophe; numbers (money is ``Decimal``, negative ones included), dates and blanks pass as
    they are."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
