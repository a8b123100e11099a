"""The sessions table: one row per session, updated in place, filtered and sorted by any column.

Rows are keyed by user id and only the cells whose text changed are rewritten, so the cursor,
the scroll position and a reader's eye stay put while the figures move.
"""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from lkbridge._proto import lkbridge_admin_pb2 as admin_pb
from lkbridge.text import printable
from lkbridge.tui.figures import COLUMN_KEYS, COLUMNS, cells, matches, next_column, sort_key

ARROWS = {False: "▲", True: "▼"}


def shown(text: str) -> str:
    """A cell's text as DataTable shows it: a str cell is read as markup, so a user id such as
    `zzz[/]` or `[@click=...]` is escaped, and its control characters too."""
    return escape(printable(text))


class SessionTable(DataTable[str]):
    sort_column: reactive[str] = reactive("user")
    sort_reverse: reactive[bool] = reactive(False)
    filter_text: reactive[str] = reactive("")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._sessions: list[admin_pb.SessionInfo] = []
        self._drop_rates: dict[str, float] = {}

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(self._label(column.key), key=column.key)

    def _label(self, key: str) -> Text:
        return Text(f"{key}{ARROWS[self.sort_reverse]}" if key == self.sort_column else key)

    @property
    def shown_users(self) -> list[str]:
        """User ids in the order the rows are shown."""
        return [str(row.key.value) for row in self.ordered_rows]

    @property
    def selected_user(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:
            return None
        return None if key.value is None else str(key.value)

    def show(self, sessions: list[admin_pb.SessionInfo], drop_rates: dict[str, float]) -> None:
        self._sessions, self._drop_rates = sessions, drop_rates
        self._update_rows()

    def cycle_sort(self) -> None:
        """The next column, ascending: `r` reverses it."""
        self.sort_column, self.sort_reverse = next_column(self.sort_column), False

    def sort_by(self, column: str) -> None:
        """A header click: sort by that column, or reverse when it is already the one."""
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column, False

    def watch_sort_column(self) -> None:
        self._relabel()

    def watch_sort_reverse(self) -> None:
        self._relabel()

    def watch_filter_text(self) -> None:
        self._update_rows()

    def _relabel(self) -> None:
        if not self.is_mounted:
            return
        for key, column in self.columns.items():
            column.label = self._label(str(key.value))
            # the arrow may widen a title; the table only measures titles when a column is added
            column.content_width = max(column.content_width, column.label.cell_len)
        self._update_rows(force_sort=True)

    def _update_rows(self, *, force_sort: bool = False) -> None:
        if not self.is_mounted:
            return
        selected = self.selected_user
        by = sort_key(self.sort_column)
        visible = sorted(
            (s for s in self._sessions if matches(s, self.filter_text)), key=lambda s: s.user_id
        )
        visible.sort(
            key=lambda s: by(s, self._drop_rates.get(s.user_id, 0.0)),
            reverse=self.sort_reverse,
        )
        wanted = {s.user_id for s in visible}
        for key in [k for k in self.rows if k.value not in wanted]:
            self.remove_row(key)
        for session in visible:
            values = {
                key: shown(text)
                for key, text in cells(session, self._drop_rates.get(session.user_id, 0.0)).items()
            }
            if session.user_id in self.rows:
                for column, text in values.items():
                    if self.get_cell(session.user_id, column) != text:
                        self.update_cell(session.user_id, column, text)
            else:
                self.add_row(*(values[k] for k in COLUMN_KEYS), key=session.user_id)
        order = [s.user_id for s in visible]
        if force_sort or order != self.shown_users:
            position = {shown(user): i for i, user in enumerate(order)}  # the cells' text
            self.sort("user", key=lambda cell: position.get(cell, len(position)))
        if selected is not None and selected in wanted:
            self.move_cursor(row=self.get_row_index(selected))
