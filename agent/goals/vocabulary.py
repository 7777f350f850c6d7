"""Words to grammar tokens: the instruction's words mapped onto the grammar's small vocabulary.

1. Phrases first ("next to" -> near, "on top of" -> on, "do nothing" -> nothing), longest first.
2. Then single words through the lexicon: synonyms (cube, box -> block; dish -> plate; container
   -> bowl; shut -> close), and filler words ("please", "the", "carefully") that carry nothing.
3. A word not in the lexicon is read as the lexicon word it misspells (one edit or swap:
   "blok" -> block, "rde" -> red), else as the content word nearest in MiniLM word embedding when
   the cosine similarity reaches `MINILM_THRESHOLD` ("platter" -> plate, "cupboard" -> drawer).
4. A word still unknown stops the reading with a question: nothing is guessed.

Colour classes: "warm" blocks are the red and yellow ones, "cool" blocks the green and blue ones
(`agent.goals.scene.COLOUR_CLASSES`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from agent.goals.errors import ClarificationError

# The simulator's colours, then colours people may name that no object of ours has (so "the
# purple block" is an absent object, not an unknown word).
COLOURS = ("red", "green", "blue", "yellow")
OTHER_COLOURS = ("purple", "orange", "black", "white", "pink", "brown", "grey", "cyan", "violet")
CLASSES = ("warm", "cool")
# Things people may name that this scene never has: reported as absent, not as unknown words.
ABSENT_NOUNS = (
    "cup", "mug", "shelf", "basket", "bin", "table", "tray", "jar", "ball", "apple", "sink",
    "pot", "pan", "bottle", "tin", "sponge", "floor", "cylinder", "sphere", "banana", "book",
)  # fmt: skip
NUMBERS = {"two": "two", "three": "three", "four": "four", "five": "five", "2": "two",
           "3": "three", "4": "four", "5": "five"}  # fmt: skip

# Grammar token -> the surface words read as it ("" = filler words that carry nothing).
_WORDS: dict[str, str] = {
    "put": "put place set drop move stow store hide bring transfer carry insert deposit lay "
    "position relocate toss leave return get",
    "stack": "stack pile",
    "open": "open opened",
    "close": "close shut",
    "closed": "closed",
    "push": "push slide nudge shove pull",
    "build": "build make create form construct assemble",
    "fill": "fill",
    "sort": "sort tidy separate organise organize arrange",
    "take": "take grab lift hold",
    "goes": "goes go belongs belong placed stacked stowed stored hidden moved sits sit rests rest",
    "is": "is are",
    "block": "block cube box brick",
    "blocks": "blocks cubes boxes bricks",
    "one": "one",
    "ones": "ones",
    "bowl": "bowl bowls container basin",
    "plate": "plate plates dish",
    "drawer": "drawer drawers",
    "tower": "tower",
    "towers": "towers stacks",
    "grey": "grey gray",
    "all": "all every each everything",
    "both": "both",
    "other": "other others remaining",
    "not": "not never non no",
    "except": "except but excluding",
    "it": "it itself",
    "them": "them those these they",
    "that": "that which who",
    "in": "in into inside within",
    "on": "on onto upon atop over above",
    "near": "near beside by toward towards against",
    "under": "under beneath below underneath",
    "then": "then afterwards afterward next later finally lastly subsequently",
    "bottom": "bottom base",
    "": "the a an please can could would will you kindly robot now carefully gently quickly "
    "slowly just also first i want like need me we us let lets some away up do does should must "
    "be colour colours coloured color colors colored single hey okay ok there again as well for "
    "way same own its their right safely neatly back thanks thank yes out there down",
}
_SELF = ("to", "with", "of", "from", "and", "too", "so", "top", "nothing")
LEXICON: dict[str, str] = {
    **{word: token for token, words in _WORDS.items() for word in words.split()},
    **{w: w for w in (*COLOURS, *OTHER_COLOURS, *CLASSES, *ABSENT_NOUNS, *_SELF)},
    **NUMBERS,
}

# Multi-word phrases -> tokens, matched on words before the lexicon (longest first).
PHRASES: dict[str, str] = {
    "do nothing": "nothing",
    "nothing to do": "nothing",
    "there is nothing to do": "nothing",
    "stay still": "nothing",
    "stay put": "nothing",
    "leave everything as it is": "nothing",
    "leave everything where it is": "nothing",
    "leave it there": "",
    "leave it where it is": "",
    "next to": "near",
    "close to": "near",
    "up to": "near",
    "on top of": "on",
    "on the top of": "on",
    "in front of": "front",
    "at the bottom": "bottom",
    "on the bottom": "bottom",
    "at the base": "bottom",
    "at the top": "top",
    "in the middle": "middle",
    "in between": "middle",
    "on top": "top",
    "from the bottom": "bottom_up",
    "from bottom to top": "bottom_up",
    "bottom to top": "bottom_up",
    "bottom up": "bottom_up",
    "from the top": "top_down",
    "from top to bottom": "top_down",
    "top to bottom": "top_down",
    "top down": "top_down",
    "a stack": "tower",
    "one stack": "tower",
    "one tower": "tower",
    "by colour": "",
    "by color": "",
    "pick up": "take",
    "each of": "all",
    "all of": "all",
    "every one of": "all",
    "clean up": "sort",
    "after that": "then",
    "after this": "then",
    "once that is done": "then",
    "as well": "too",
    "so does": "so",
    "so do": "so",
    "the rest": "other ones",
    "the others": "other ones",
    "the rest of the blocks": "other blocks",
    "over to": "to",
    "put away": "put",
    "pull open": "open",
    "make sure": "",
    "go ahead and": "",
    "i would like you to": "",
    "i want you to": "",
    "apart from": "except",
    "other than": "except",
    "with the exception of": "except",
    "should be": "goes",
    "must be": "goes",
    "needs to be": "goes",
    "has to be": "goes",
    "end up": "goes",
    "ends up": "goes",
    "is going": "goes",
}
# Only these are matched by spelling or MiniLM: content words, never fillers or connectives.
VERB_TOKENS = frozenset({"put", "stack", "open", "close", "push", "build", "fill", "sort", "take"})
_NOUN_TOKENS = frozenset({"block", "blocks", "bowl", "plate", "drawer", "tower"})
_CONTENT_TOKENS = VERB_TOKENS | _NOUN_TOKENS | {*COLOURS, *OTHER_COLOURS, *CLASSES, *ABSENT_NOUNS}
MINILM_THRESHOLD = 0.58  # measured: platter->plate 0.59, cabinet->drawers 0.60; sandwich 0.54
_TOKEN = re.compile(r"[a-z0-9]+|[,;:.()]")

Embed = Callable[[list[str]], np.ndarray]  # words -> (N, D) unit vectors


def minilm_words() -> Embed:
    """MiniLM embeddings of single words, bundled offline (worldmodel.text.MiniLMEncoder)."""
    from worldmodel.text import MiniLMEncoder

    encoder = MiniLMEncoder()
    return lambda words: encoder.encode(words)[:, 0].numpy()


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps."""
    rows = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[-1][-1]


@dataclass
class Reading:
    """The tokens of one instruction and how unfamiliar words were read."""

    tokens: list[str]
    substitutions: dict[str, str] = field(default_factory=dict)


class WordMapper:
    """Maps instruction text to grammar tokens; `embed` is loaded only for an unknown word."""

    def __init__(self, embed: Embed | None = None, threshold: float = MINILM_THRESHOLD) -> None:
        self._embed = embed
        self.threshold = threshold
        self._content = sorted(w for w, t in LEXICON.items() if t in _CONTENT_TOKENS)
        # MiniLM only maps onto the objects we have: its single-word similarity ranks colours
        # badly (crimson -> purple), puts adverbs next to verbs (somewhere -> place), and a guess
        # at an absent thing helps nobody.
        self._similar_words = sorted(w for w, t in LEXICON.items() if t in _NOUN_TOKENS)
        self._vectors: np.ndarray | None = None
        self._phrases = sorted(
            ((p.split(), t.split()) for p, t in PHRASES.items()), key=lambda p: -len(p[0])
        )

    def read(self, text: str) -> Reading:
        """The grammar tokens of `text`; raises ClarificationError on a word it cannot read."""
        words = _TOKEN.findall(_prepare(text))
        reading = Reading([])
        i = 0
        while i < len(words):
            phrase = next(
                (t for p, t in self._phrases if words[i : i + len(p)] == p),
                None,
            )
            if phrase is not None:
                reading.tokens += phrase
                i += len(next(p for p, t in self._phrases if words[i : i + len(p)] == p))
                continue
            reading.tokens += self._word(words[i], reading)
            i += 1
        return Reading(_tidy(reading.tokens), reading.substitutions)

    def _word(self, word: str, reading: Reading) -> list[str]:
        if word in ",;.()":
            return [","]
        if word == ":":
            return [":"]
        if word in LEXICON:
            return LEXICON[word].split()
        known = self._misspelt(word) or self._similar(word)
        if known is None:
            raise ClarificationError(
                f"I do not know the word {word!r}; could you say it another way? I understand "
                "blocks by colour (red, green, blue, yellow), the bowl, the plate and the drawer, "
                "and put, stack, open, close and push",
                "unknown word",
            )
        reading.substitutions[word] = known
        return LEXICON[known].split()

    def _misspelt(self, word: str) -> str | None:
        if len(word) < 3 or word.isdigit():
            return None
        # A three-letter word may only miss a letter ("bwl") or have two swapped ("rde"): a
        # changed letter in a short word reaches too many others ("bed" is not "red"). Any known
        # word may be swapped ("teh").
        best = [
            w
            for w in self._content
            if abs(len(w) - len(word)) <= 1
            and edit_distance(word, w) <= 1
            and (len(word) >= 4 or len(w) > len(word))
        ] or [w for w in LEXICON if _swapped(word, w)]
        return min(best, key=lambda w: (edit_distance(word, w), w)) if best else None

    def _similar(self, word: str) -> str | None:
        if not word.isalpha():
            return None
        if self._embed is None:
            self._embed = minilm_words()
        if self._vectors is None:
            self._vectors = self._embed(self._similar_words)
        scores = self._vectors @ self._embed([word])[0]  # (verbs and object nouns,)
        best = int(np.argmax(scores))
        return self._similar_words[best] if scores[best] >= self.threshold else None


def _swapped(a: str, b: str) -> bool:
    """Two neighbouring letters swapped: "rde" and "red"."""
    return len(a) == len(b) and sorted(a) == sorted(b) and edit_distance(a, b) == 1


def _prepare(text: str) -> str:
    text = text.lower().replace("’", "'")
    text = re.sub(r"n't\b", " not", text)  # don't, isn't, can't -> do not, is not, ca not
    text = re.sub(r"'s\b|'", " ", text)
    return re.sub(r"[-_/]", " ", text)


def _tidy(tokens: Sequence[str]) -> list[str]:
    """Drop separators at the ends and repeated ones, and "to" before a verb ("want to put")."""
    out: list[str] = []
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if token == "to" and following in VERB_TOKENS:
            continue
        if token == "," and (not out or out[-1] in (",", ":")):
            continue
        out.append(token)
    while out and out[-1] in (",", ":", "and", "then"):
        out.pop()
    return out
