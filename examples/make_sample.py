"""Writes sample_answers.csv: the bundled sample for the main job and the README, and
sample_new_answers.csv: a later batch of other answers to the same questions (the main job's
retraining round pushes them with the first model's scores as pre-annotations).

Eight questions (four English, four Hungarian) with reference answers, and a few hundred
student answers built from correct, partial and wrong phrasings, each scored 0-5 by two
simulated teachers (teacher_b a little stricter). Seeded: re-running gives the same file.

    python examples/make_sample.py
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

# question id, question, reference, {score: [phrasings]}, openers, closers
QUESTIONS = [
    ("phys-heat", "Why does a metal spoon feel colder than a wooden spoon at the same temperature?",
     "Metal conducts heat away from the hand faster than wood does.",
     {5: ["metal conducts heat away from your hand faster than wood",
          "metal is a better conductor of heat, so it takes heat from the hand quicker",
          "the metal carries heat away from the skin much faster than the wood"],
      3: ["metal conducts heat", "metal is a conductor and wood is an insulator"],
      1: ["the metal is colder than the wood", "metal is always cold"],
      0: ["it is shiny", "wood is softer", "the spoon was in the fridge"]},
     ["", "Because ", "I think ", "Maybe "], ["", ".", ", I think."]),
    ("phys-ice", "What happens to the volume of water when it freezes?",
     "It increases: ice takes up more space than the same mass of liquid water.",
     {5: ["it increases because ice is less dense than water",
          "the volume gets bigger, ice takes up more space",
          "it expands when it turns into ice"],
      3: ["it gets bigger", "it goes up"],
      1: ["it becomes solid", "it turns into ice"],
      0: ["it shrinks", "the volume stays the same", "it decreases"]},
     ["", "I think ", "When water freezes ", "Well, "], ["", ".", "!"]),
    ("bio-light", "Why do plants need light?",
     "Plants use light energy for photosynthesis, to make sugar from carbon dioxide and water.",
     {5: ["they use light energy to make sugar from carbon dioxide and water",
          "light is the energy for photosynthesis, which makes their food",
          "for photosynthesis, to make glucose"],
      3: ["for photosynthesis", "to make their food"],
      1: ["so they can grow", "because they are green"],
      0: ["to stay warm", "to breathe", "to drink water"]},
     ["", "Plants need light ", "I think ", "Because "], ["", ".", " I guess."]),
    ("chem-rust", "Why does an iron nail rust faster in salt water than in tap water?",
     "Salt water conducts electricity better, which speeds up the oxidation of iron.",
     {5: ["salt water conducts electricity better so the iron oxidises faster",
          "the dissolved salt speeds up the oxidation reaction of the iron",
          "ions in salt water make the electrochemical reaction faster"],
      3: ["salt makes the reaction faster", "it oxidises faster"],
      1: ["salt is bad for iron", "because of the water"],
      0: ["salt water is colder", "tap water has no oxygen", "the nail is old"]},
     ["", "Because ", "I think ", "Maybe "], ["", ".", ", not sure."]),
    ("hu-hovezetes", "Miért érezzük hidegebbnek a fémkorlátot, mint a fapadot télen?",
     "A fém jó hővezető, gyorsabban elvezeti a hőt a kezünkből, mint a fa.",
     {5: ["a fém jó hővezető, gyorsabban elvezeti a hőt a kezünkből",
          "a fém jobban vezeti a hőt, mint a fa, ezért gyorsan hűl a kezünk",
          "a fém gyorsan elvonja a hőt a bőrünkből"],
      3: ["a fém jó hővezető", "a fa szigetel, a fém nem"],
      1: ["a fém hidegebb", "a fém mindig hideg"],
      0: ["mert a korlát vizes", "mert télen minden hideg", "a fa puhább"]},
     ["", "Mert ", "Szerintem ", "Talán "], ["", ".", ", azt hiszem."]),
    ("hu-fagyas", "Mi történik a víz térfogatával, amikor megfagy?",
     "Megnő, mert a jég sűrűsége kisebb, mint a vízé.",
     {5: ["megnő, mert a jég sűrűsége kisebb",
          "kitágul, ezért reped szét a palack a fagyasztóban",
          "nagyobb lesz, a jég több helyet foglal"],
      3: ["megnő", "nő a térfogata"],
      1: ["szilárd lesz", "jéggé alakul"],
      0: ["csökken", "ugyanannyi marad", "elpárolog"]},
     ["", "Szerintem ", "A víz ", "Talán "], ["", ".", "!"]),
    ("hu-fotoszintezis", "Mi a fotoszintézis lényege?",
     "A növény a fény energiájával szén-dioxidból és vízből szőlőcukrot és oxigént állít elő.",
     {5: ["a fény energiájával szén-dioxidból és vízből szőlőcukor és oxigén lesz",
          "a növény fény segítségével cukrot készít szén-dioxidból és vízből",
          "fényenergiával tápanyagot, szőlőcukrot állít elő a növény"],
      3: ["a növény cukrot készít", "oxigént és cukrot termel"],
      1: ["oxigént termel", "a növény nő"],
      0: ["a növény lélegzik", "a gyökér felszívja a vizet", "a levél leesik"]},
     ["", "Szerintem ", "A fotoszintézis során ", "Talán "], ["", ".", ", nem vagyok biztos."]),
    ("hu-rozsda", "Miért rozsdásodik gyorsabban a vasszög sós vízben?",
     "A sós víz jobban vezeti az áramot, ez felgyorsítja a vas oxidációját.",
     {5: ["a sós víz jobban vezeti az áramot, ezért gyorsabb az oxidáció",
          "az oldott só ionjai felgyorsítják a vas oxidációját",
          "a só miatt gyorsabb az elektrokémiai korrózió"],
      3: ["a só gyorsítja a reakciót", "gyorsabban oxidálódik"],
      1: ["a só rossz a vasnak", "a víz miatt"],
      0: ["a sós víz hidegebb", "a csapvízben nincs oxigén", "a szög régi"]},
     ["", "Mert ", "Szerintem ", "Talán "], ["", ".", ", nem tudom biztosan."]),
]
PER_QUESTION = 40
NEW_PER_QUESTION = 15
HEADER = ["question_id", "question", "reference_answer", "student_answer", "teacher_a",
          "teacher_b"]


def teacher(rng: random.Random, true: int, strict: bool) -> int:
    """A simulated teacher: mostly the true score, sometimes one step off."""
    r = rng.random()
    if strict and r < 0.3:
        return max(0, true - 1)
    if r < 0.12:
        return min(5, max(0, true + rng.choice((-1, 1))))
    return true


def main() -> None:
    rng = random.Random(2026)
    later = random.Random(2027)  # the new batch: drawn apart, so the first file never changes
    rows, new_rows = [], []
    for qid, question, reference, phrasings, openers, closers in QUESTIONS:
        combos = sorted({(score, o + p, c) for score, ps in phrasings.items() for p in ps
                         for o in openers for c in closers})
        chosen = rng.sample(combos, PER_QUESTION)
        for score, text, closer in chosen:
            rows.append(_row(rng, qid, question, reference, score, text, closer))
        unused = [c for c in combos if c not in set(chosen)]
        for score, text, closer in later.sample(unused, NEW_PER_QUESTION):
            new_rows.append(_row(later, qid, question, reference, score, text, closer))
    for name, table in (("sample_answers.csv", rows), ("sample_new_answers.csv", new_rows)):
        path = Path(__file__).with_name(name)
        with path.open("w", encoding="utf-8", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(HEADER)
            out.writerows(table)
        print(f"wrote {len(table)} answers to {path}")


def _row(rng: random.Random, qid, question, reference, score, text, closer) -> list:
    answer = (text[0].upper() + text[1:] + closer).strip()
    return [qid, question, reference, answer, teacher(rng, score, False),
            teacher(rng, score, True)]


if __name__ == "__main__":
    main()
