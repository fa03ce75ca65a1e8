"""What is wrong with a survey file: one Problem, and the collector that lists them in order."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a survey file; `question_id` is "#N" for a question without an id."""

    file: str
    question_id: str | None
    message: str

    def __str__(self) -> str:
        if self.question_id is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}: question {self.question_id}: {self.message}"


class Found:
    """Problems collected while checking one file, each with the index of its question
    (-1 for the survey itself) so they can be listed in the file's order."""

    def __init__(self, file: str, labels: list[str]) -> None:
        self.file = file
        self.labels = labels
        self.items: list[tuple[int, int, Problem]] = []

    def add(self, index: int | None, message: str) -> None:
        label = self.labels[index] if index is not None else None
        problem = Problem(self.file, label, message)
        if all(p != problem for _, _, p in self.items):
            position = -1 if index is None else index
            self.items.append((position, len(self.items), problem))

    def sorted(self) -> list[Problem]:
        return [p for _, _, p in sorted(self.items, key=lambda item: item[:2])]
