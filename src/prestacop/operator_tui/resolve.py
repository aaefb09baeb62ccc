"""The resolve dialog: pick the right code (by number or words) or "no violation", add a note."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from prestacop.domain.violation_codes import ViolationCodeInfo, search

NO_VIOLATION = "none"


@dataclass(frozen=True)
class Verdict:
    corrected_code: int | None
    note: str | None


def describe(info: ViolationCodeInfo) -> str:
    fines = "/".join(f"${f}" for f in (info.fine_manhattan_below_96th, info.fine_elsewhere) if f)
    return f"{info.code:>2} {info.definition[:52]}" + (f"  {fines}" if fines else "")


class ResolveScreen(ModalScreen[Verdict | None]):
    """Enter in the search or the note goes to the list; Enter on a line decides; Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, alert_label: str) -> None:
        super().__init__()
        self.alert_label = alert_label

    def compose(self) -> ComposeResult:
        with Vertical(id="resolve"):
            yield Label(f"Resolve {self.alert_label}", id="resolve-title")
            yield Input(placeholder="search code: number or words (e.g. 21, hydrant)", id="search")
            yield Input(placeholder="note (optional)", id="note", max_length=2000)
            yield OptionList(id="codes")
            yield Label("Enter: choose · Tab: move · Esc: cancel", id="resolve-help")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one("#search", Input).focus()

    def _fill(self, query: str) -> None:
        codes = self.query_one("#codes", OptionList)
        codes.clear_options()
        options = [Option("-- no violation --", id=NO_VIOLATION)]
        options += [Option(describe(info), id=str(info.code)) for info in search(query)]
        codes.add_options(options)
        codes.highlighted = 1 if query and len(options) > 1 else 0

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "search":
            self._fill(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#codes", OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        choice = event.option.id
        note = self.query_one("#note", Input).value.strip() or None
        code = None if choice == NO_VIOLATION or choice is None else int(choice)
        self.dismiss(Verdict(code, note))

    def action_cancel(self) -> None:
        self.dismiss(None)
