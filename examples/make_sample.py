"""Writes sample_answers.csv: the bundled sample for the main job and the README, and
sample_new_answers.csv: a later batch of other answers to the same questions (the main job's
retraining round pushes them with the first model's scores as pre-annotations).

Eight questions (four English, four Hungarian), 40 + 15 answers each, built so that they
resemble a class rather than a template: each question's reference answer is split into key
ideas (A and B worth 2 points, C worth 1) and has a typical misconception, each with six or
more wordings written as pupils write them. An answer is a drawn profile (which ideas, with
or without the misconception, or something vague, off-topic or "don't know") put into words:
shuffled clauses, joined in different ways, with openers, spelling slips, lowercase, missing
punctuation and, in Hungarian, missing accents. The rubric (`examples/sample_rubric.yaml`
describes it to the teachers) gives the score from the content:

    points of the ideas expressed (A 2, B 2, C 1), minus 1 for a misconception (never
    below 0); vague but on-topic with no idea: 1; off-topic or "don't know": 0.

Two simulated teachers score it: teacher_a mostly the rubric's score, sometimes one off;
teacher_b a little stricter. No answer text occurs twice in a question, in either file or
across them. Seeded: re-running gives the same files. It prints the score spread and the
teachers' agreement (quadratic weighted kappa, with scikit-learn):

    .venv/bin/python examples/make_sample.py
"""

from __future__ import annotations

import csv
import difflib
import random
import re
import unicodedata
from collections import Counter
from itertools import pairwise
from pathlib import Path

# Per question: the key ideas A (2 points), B (2), C (1), the misconception M, vague but
# on-topic answers (1 point) and off-topic ones (0). Clauses start lowercase, without a full
# stop; the generator joins and punctuates them.
QUESTIONS = [
    {"id": "phys-heat", "lang": "en",
     "question": "Why does a metal spoon feel colder than a wooden spoon at the same temperature?",
     "reference": "Metal conducts heat away from the hand faster than wood does.",
     "A": ["metal is a good conductor of heat and wood is not",
           "metal conducts heat much better than wood",
           "wood is an insulator but metal is a conductor",
           "the metal is a better thermal conductor",
           "metals let heat pass through them easily, wood doesn't",
           "wood doesn't conduct heat very well, metal does",
           "metal is a good heat conductor"],
     "B": ["it takes heat away from your hand faster",
           "the heat from your hand goes into the metal quicker",
           "your hand loses heat faster when you touch the metal",
           "heat flows out of your fingers into the spoon more quickly",
           "the metal draws the warmth out of your skin fast",
           "more heat leaves your hand every second"],
     "C": ["they are both really the same temperature",
           "your skin feels how fast it loses heat, not the temperature",
           "the temperature is the same, only the feeling is different",
           "our hand can't measure temperature, it feels heat loss",
           "it is not actually colder",
           "both spoons are at room temperature"],
     "M": ["the metal is colder than the wood",
           "metal lets the cold into your hand",
           "metal holds the cold more",
           "metal gives off coldness",
           "metal is naturally cold",
           "the cold goes from the spoon into your hand"],
     "vague": ["it is made of metal", "it depends on the material",
               "metal and wood are different materials", "metal just feels different",
               "it has to do with heat", "because of the heat"],
     "off": ["the metal spoon is shiny", "wood is softer than metal",
             "the metal spoon is heavier", "wood comes from trees",
             "metal spoons are for soup", "the wooden spoon is bigger"]},
    {"id": "phys-ice", "lang": "en", "b_explains_a": True,
     "open": ["", "", "", "", "I think ", "Well, ", "Probably ", "When water freezes ",
              "When it freezes, ", "I'm pretty sure "],
     "question": "What happens to the volume of water when it freezes?",
     "reference": "It increases: ice takes up more space than the same mass of liquid water.",
     "A": ["it increases", "the volume gets bigger", "it expands",
           "water expands when it freezes", "it takes up more space", "the volume goes up",
           "it grows a bit"],
     "B": ["ice is less dense than water",
           "the same mass of ice takes up more room than the water",
           "the density of ice is lower than that of liquid water",
           "ice floats on water because it is less dense",
           "the mass stays the same but the ice needs more space",
           "ice has a lower density"],
     "C": ["the molecules line up in a crystal with gaps in it",
           "the water molecules form a hexagonal lattice with a lot of empty space",
           "hydrogen bonds hold the molecules further apart",
           "the particles get locked in an open pattern",
           "in ice the molecules are more spread out",
           "the molecules make a structure with holes in it"],
     "M": ["it gets smaller because the molecules move closer together",
           "the volume decreases", "it shrinks",
           "it stays the same because the mass doesn't change",
           "solids are always denser than liquids",
           "the particles get packed tighter"],
     "vague": ["it changes", "it turns into ice and becomes solid", "it becomes hard",
               "the water becomes a solid", "the volume changes", "it freezes into ice"],
     "off": ["it gets cold", "you put it in the freezer", "ice is white",
             "it melts again later", "it is 0 degrees", "ice is slippery"]},
    {"id": "bio-light", "lang": "en",
     "question": "Why do plants need light?",
     "reference": "Plants use light energy for photosynthesis, to make sugar from carbon "
                  "dioxide and water.",
     "A": ["for photosynthesis", "they need it to do photosynthesis",
           "light gives them the energy for photosynthesis", "light is their energy source",
           "they use the energy of the light", "without light there is no photosynthesis",
           "the chlorophyll absorbs the light energy"],
     "B": ["to make their own food", "they make sugar with it", "they produce glucose",
           "so they can make food for themselves", "it lets them build sugars",
           "they turn it into food"],
     "C": ["from carbon dioxide and water", "they take in CO2 and water",
           "oxygen is made as a by-product", "they give off oxygen",
           "using water from the roots and carbon dioxide from the air",
           "oxygen comes out too"],
     "M": ["they eat the light", "light is their food", "they breathe in light",
           "light keeps them warm", "plants get their food from the soil",
           "they need light to breathe"],
     "vague": ["to grow", "so they can grow", "to stay alive", "it is good for them",
               "otherwise they die", "they are green"],
     "off": ["plants need water", "to look nice", "they live outside",
             "so the flowers smell nice", "bees need them", "they grow in soil"]},
    {"id": "chem-rust", "lang": "en",
     "question": "Why does an iron nail rust faster in salt water than in tap water?",
     "reference": "Salt water conducts electricity better, which speeds up the oxidation of iron.",
     "A": ["salt water conducts electricity better",
           "the salt dissolves into ions that carry charge",
           "there are more ions in salt water", "salt water is a better electrolyte",
           "salty water lets current flow more easily",
           "the dissolved salt makes the water conductive"],
     "B": ["the iron oxidises faster", "the oxidation reaction goes quicker",
           "electrons leave the iron more easily",
           "it speeds up the reaction of iron with oxygen",
           "the iron loses its electrons faster",
           "the iron reacts with oxygen more quickly"],
     "C": ["rusting needs water and oxygen", "rusting is an electrochemical reaction",
           "rust is just iron oxide", "iron rusts when it meets oxygen and water",
           "the nail needs oxygen and water to rust", "corrosion is a redox reaction"],
     "M": ["the salt eats the iron", "salt is acidic", "salt water has more oxygen in it",
           "the salt sticks to the nail and turns into rust", "salt is corrosive like acid",
           "salt dissolves the metal"],
     "vague": ["salt makes it rust", "because of the salt", "salt is bad for metal",
               "salt water is stronger", "salt speeds it up", "sea water damages things"],
     "off": ["the nail is old", "tap water is cleaner", "the sea is big",
             "tap water is warmer", "the nail is made of steel", "salt is white"]},
    {"id": "hu-hovezetes", "lang": "hu",
     "question": "Miért érezzük hidegebbnek a fémkorlátot, mint a fapadot télen?",
     "reference": "A fém jó hővezető, gyorsabban elvezeti a hőt a kezünkből, mint a fa.",
     "A": ["a fém jó hővezető, a fa nem", "a fém jobban vezeti a hőt, mint a fa",
           "a fa hőszigetelő, a fém viszont vezeti a hőt",
           "a fémnek nagyobb a hővezető képessége", "a fém jó hővezető anyag",
           "a fa rossz hővezető", "a fémek jól vezetik a hőt"],
     "B": ["gyorsabban elvezeti a hőt a kezünkből", "a kezünk hamarabb leadja a hőt",
           "a kezünkből gyorsan átáramlik a hő a korlátba", "több hőt von el a bőrünktől",
           "a fém elszívja a meleget a kezünkből", "a kezünk gyorsabban lehűl rajta"],
     "C": ["valójában ugyanolyan hőmérsékletűek",
           "mindkettő ugyanolyan hideg, csak másnak érezzük",
           "nem a hőmérsékletet érezzük, hanem a hőveszteséget",
           "a kettő hőmérséklete egyforma", "a korlát nem hidegebb, mint a pad",
           "ugyanannyi fokosak"],
     "M": ["a fém hidegebb, mint a fa", "a fém magába szívja a hideget",
           "a fém átadja a hideget a kezünknek", "a fém jobban tárolja a hideget",
           "a hideg a fémből a kezünkbe áramlik", "a fém mindig hideg"],
     "vague": ["fémből van", "más az anyaguk", "a fém más anyag, mint a fa", "a hő miatt",
               "az anyaguk miatt", "a fém az fém"],
     "off": ["a korlát vizes", "télen minden hideg", "a fa puhább",
             "a padra ráülünk, a korlátot csak megfogjuk", "a korlátot le szokták festeni",
             "a fa barna"]},
    {"id": "hu-fagyas", "lang": "hu", "b_explains_a": True,
     "open": ["", "", "", "", "Szerintem ", "Talán ", "Hát ", "Amikor megfagy, ",
              "Fagyáskor ", "Úgy tudom, "],
     "question": "Mi történik a víz térfogatával, amikor megfagy?",
     "reference": "Megnő, mert a jég sűrűsége kisebb, mint a vízé.",
     "A": ["megnő", "nagyobb lesz", "kitágul", "a térfogata növekszik",
           "több helyet foglal el", "nő a térfogata", "megnövekszik a térfogata"],
     "B": ["a jég sűrűsége kisebb, mint a vízé", "a jégnek kisebb a sűrűsége",
           "ugyanannyi tömeg jégként több helyet foglal",
           "a tömege nem változik, de ritkább lesz",
           "a jég könnyebb, ezért úszik a víz tetején", "a jég kevésbé sűrű"],
     "C": ["a vízmolekulák rácsba rendeződnek, amiben sok üres hely van",
           "a hidrogénkötések miatt távolabb kerülnek egymástól a molekulák",
           "a molekulák laza kristályrácsot alkotnak",
           "a részecskék szabályos, hézagos szerkezetbe állnak",
           "a jégben távolabb vannak egymástól a molekulák",
           "hatszöges kristályszerkezet jön létre"],
     "M": ["csökken, mert a részecskék közelebb kerülnek egymáshoz", "összehúzódik",
           "kisebb lesz", "ugyanannyi marad, mert a tömeg sem változik",
           "a szilárd anyagok mindig sűrűbbek", "a jég sűrűbb, mint a víz"],
     "vague": ["megváltozik", "szilárd lesz", "jéggé alakul", "megkeményedik",
               "halmazállapotot vált", "megfagy és jég lesz belőle"],
     "off": ["hideg lesz", "berakjuk a fagyasztóba", "elpárolog", "fehér lesz",
             "nulla fokos lesz", "a jég csúszós"]},
    {"id": "hu-fotoszintezis", "lang": "hu",
     "open": ["", "", "", "", "Szerintem ", "Talán ", "Hát ", "A fotoszintézis során ",
              "Az, hogy ", "Úgy tudom, "],
     "question": "Mi a fotoszintézis lényege?",
     "reference": "A növény a fény energiájával szén-dioxidból és vízből szőlőcukrot és "
                  "oxigént állít elő.",
     "A": ["a növény a fény energiáját hasznosítja", "fényenergia segítségével történik",
           "a levelek a napfény energiáját használják", "a klorofill elnyeli a fényt",
           "a fény energiáját kémiai energiává alakítja",
           "napfény kell hozzá, az adja az energiát"],
     "B": ["szőlőcukrot állít elő", "cukrot készít a növény",
           "a növény saját maga állítja elő a táplálékát", "glükóz keletkezik",
           "szerves anyagot, cukrot termel", "tápanyagot gyárt magának"],
     "C": ["szén-dioxidból és vízből", "szén-dioxidot és vizet vesz fel",
           "közben oxigén szabadul fel", "oxigént bocsát ki",
           "a levegőből szén-dioxidot, a talajból vizet használ",
           "melléktermékként oxigén keletkezik"],
     "M": ["a növény így lélegzik", "oxigént vesz fel és szén-dioxidot ad le",
           "a növény a talajból veszi fel a táplálékát", "a fény a növény tápláléka",
           "a növény megeszi a fényt", "ez a növény légzése"],
     "vague": ["a növény így él", "a növényeknek ez fontos", "a növény így nő",
               "a levélben történik", "a zöld színe miatt van", "a növény így marad életben"],
     "off": ["a gyökér felszívja a vizet", "a levél ősszel leesik",
             "a virágokat a méhek porozzák be", "a növény zöld", "ez biológia anyag",
             "a fák magasra nőnek"]},
    {"id": "hu-rozsda", "lang": "hu",
     "question": "Miért rozsdásodik gyorsabban a vasszög sós vízben?",
     "reference": "A sós víz jobban vezeti az áramot, ez felgyorsítja a vas oxidációját.",
     "A": ["a sós víz jobban vezeti az áramot", "a sós vízben több az ion",
           "a só ionokra bomlik, ezek vezetik az áramot", "a sós víz jó elektrolit",
           "az oldott só miatt jobb a víz vezetőképessége",
           "a sós víz elektromosan jobban vezet"],
     "B": ["gyorsabb a vas oxidációja", "a vas gyorsabban oxidálódik",
           "a vas könnyebben leadja az elektronjait", "felgyorsul az oxidáció",
           "a vas gyorsabban reagál az oxigénnel", "hamarabb megy végbe a reakció"],
     "C": ["a rozsdásodáshoz víz és oxigén kell", "a rozsdásodás elektrokémiai folyamat",
           "a rozsda vas-oxid", "a vas a víz és a levegő oxigénje hatására rozsdásodik",
           "a korrózió egy redoxireakció", "a rozsda vasból és oxigénből lesz"],
     "M": ["a só megeszi a vasat", "a só savas", "a sós vízben több az oxigén",
           "a só rátapad a szögre és rozsdává válik", "a só feloldja a fémet",
           "a só maró anyag, mint a sav"],
     "vague": ["a só miatt", "a só rossz a vasnak", "a sós víz erősebb", "a só gyorsítja",
               "a tengervíz mindent tönkretesz", "sós"],
     "off": ["a szög régi", "a csapvíz tisztább", "a sós víz hidegebb",
             "a szög acélból van", "a tenger nagy", "a só fehér"]},
]

# Per language: "don't know" answers, openers (a question may have its own), ways to join two
# clauses (and the causal ones: "so" from cause to effect, "because" back), closers (not
# after a hedging opener), an extra sentence pupils add, and common misspellings.
LANG = {
    "en": {"idk": ["I don't know", "idk", "no idea", "not sure sorry", "dont know",
                   "I forgot", "we didn't learn this yet", "?", "no clue", "pass"],
           "open": ["", "", "", "", "Because ", "I think ", "I think that ", "Maybe ",
                    "It's because ", "Well, ", "Probably "],
           "because": ["Because ", "It's because "],
           "hedges": ["I think", "I think that", "Maybe", "Probably"],
           "join": [". ", ", ", " and ", " and also ", ". Also "],
           "so": [", so ", ". So ", ", which means ", " so "],
           "since": [" because ", ", because ", " as ", ". This is because "],
           "close": ["", "", "", "", " I think", " i guess", " (I think)"],
           "extra": ["We did this in class.", "My dad told me this.",
                     "I'm not 100% sure.", "That's what the book says.",
                     "I remember it from the experiment."],
           "typos": {"because": "becuase", "conductor": "conducter",
                     "temperature": "temprature", "photosynthesis": "photosynthisis",
                     "oxygen": "oxigen", "electricity": "electrisity", "dense": "dence",
                     "glucose": "glucos", "doesn't": "doesnt", "don't": "dont",
                     "it's": "its", "quicker": "quiker", "insulator": "insolator",
                     "molecules": "molecuels", "chlorophyll": "chlorophyl", "their": "there",
                     "carbon dioxide": "carbon dioxid", "electrolyte": "electrolite"}},
    "hu": {"idk": ["nem tudom", "nem tudom sajnos", "fogalmam sincs", "nemtom",
                   "ezt nem vettük", "?", "elfelejtettem", "passz", "nem emlékszem"],
           "open": ["", "", "", "", "Mert ", "Szerintem ", "Azért, mert ", "Talán ",
                    "Úgy gondolom, hogy ", "Hát ", "Valószínűleg "],
           "because": ["Mert ", "Azért, mert "],
           "hedges": ["Szerintem", "Talán", "Úgy gondolom, hogy", "Valószínűleg"],
           "join": [". ", ", ", " és ", ", és ", ". Illetve "],
           "so": [", ezért ", ". Ezért ", ", így ", " ezért "],
           "since": [", mert ", " mert ", ". Ez azért van, mert ", ", hiszen "],
           "close": ["", "", "", "", " szerintem", ", azt hiszem", " (talán)"],
           "extra": ["Órán tanultuk.", "Ezt apukám mondta.", "Nem vagyok benne biztos.",
                     "A könyvben is így van.", "A kísérletnél is ezt láttuk."],
           "typos": {"szén-dioxid": "széndioxid", "mert": "mer", "hővezető": "hővezetö",
                     "sűrűsége": "sürüsége", "oxidáció": "oxidácio",
                     "szőlőcukrot": "szölöcukrot", "kezünkből": "kezünkböl",
                     "elektrolit": "elektrólit", "fotoszintézis": "fotoszintézís",
                     "hőmérsékletűek": "hőmérsékletüek",
                     "hidrogénkötések": "hidrogén kötések", "ugyanannyi": "ugyanyi",
                     "hamarabb": "hamarább", "kitágul": "kitágúl"}},
}

# An English clause that is no sentence of its own ("to grow", "for photosynthesis") takes
# no "Because" before it and no "so"/"because" join.
FRAGMENT = re.compile(r"(to|so|for|from|of|because|using|without) ")

# Answer profiles with their weight: ideas expressed, misconception, or a kind of 0-1 answer.
PROFILES = [
    (("idk",), 3), (("off",), 4), (("M",), 5),
    (("vague",), 6), (("C",), 3), (("A", "M"), 3), (("B", "M"), 2),
    (("A",), 11), (("B",), 7), (("A", "C", "M"), 3),
    (("A", "C"), 12), (("B", "C"), 6), (("A", "B", "M"), 4),
    (("A", "B"), 14), (("A", "B", "C", "M"), 3),
    (("A", "B", "C"), 10),
]
POINTS = {"A": 2, "B": 2, "C": 1}
PER_QUESTION = 40
NEW_PER_QUESTION = 15
HEADER = ["question_id", "question", "reference_answer", "student_answer", "teacher_a",
          "teacher_b"]


def rubric_score(profile: tuple[str, ...]) -> int:
    """The rubric: points of the ideas, minus one for a misconception; vague alone is 1."""
    if profile == ("vague",):
        return 1
    points = sum(POINTS.get(part, 0) for part in profile)
    return max(0, points - ("M" in profile))


def teacher(rng: random.Random, score: int, strict: bool) -> int:
    """A simulated teacher: mostly the rubric's score, sometimes one step off; the strict
    one more often one lower."""
    r = rng.random()
    if strict and r < 0.2:
        return max(0, score - 1)
    if r < (0.26 if strict else 0.1):
        return min(5, max(0, score + rng.choice((-1, 1))))
    return score


def answer_text(rng: random.Random, q: dict, profile: tuple[str, ...]) -> str:
    """One pupil's answer for this profile, in words."""
    lang = LANG[q["lang"]]
    if profile == ("idk",):
        return _noise(rng, rng.choice(lang["idk"]), q["lang"], light=True)
    parts = [p for p in profile if p in POINTS]
    if rng.random() < 0.3:
        rng.shuffle(parts)
    clauses = [(p, rng.choice(q[p])) for p in parts]
    for kind in ("M", "vague", "off"):
        if kind in profile:
            clauses.insert(rng.randrange(len(clauses) + 1), (kind, rng.choice(q[kind])))
    opener = rng.choice(q.get("open", lang["open"]))
    if FRAGMENT.match(clauses[0][1]):
        opener = rng.choice(["", "", "Maybe ", "Probably "])
    # "so" from cause to effect, "because" back; in "what happens" questions B explains A
    cause, effect = ("B", "A") if q.get("b_explains_a") else ("A", "B")
    text = opener + clauses[0][1]
    for (prev, _), (part, clause) in pairwise(clauses):
        if FRAGMENT.match(clause):
            joint = rng.choice(lang["join"][:3])
        elif (prev, part) == (cause, effect) and rng.random() < 0.6:
            joint = rng.choice(lang["so"])
        elif (prev, part) == (effect, cause) and rng.random() < 0.6 \
                and opener not in lang["because"]:
            joint = rng.choice(lang["since"])
        else:
            joint = rng.choice(lang["join"])
        text += joint + (_capital(clause) if joint.rstrip().endswith(".") else clause)
    text = _capital(text)
    if opener.strip() not in lang["hedges"]:
        text += rng.choice(lang["close"])
    if rng.random() < 0.07:
        text += ". " + rng.choice(lang["extra"])
    elif rng.random() < 0.65:
        text += "."
    return _noise(rng, text, q["lang"])


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _noise(rng: random.Random, text: str, lang: str, light: bool = False) -> str:
    """How pupils type: lowercase, no full stop, misspellings, a slipped key, no accents."""
    if rng.random() < 0.25:
        text = text[:1].lower() + text[1:]
    if not light:
        if rng.random() < 0.2:
            for right, wrong in LANG[lang]["typos"].items():
                if rng.random() < 0.6:
                    text = re.sub(rf"\b{re.escape(right)}\b", wrong, text)
        if rng.random() < 0.12:
            text = _slip(rng, text)
    if lang == "hu":
        r = rng.random()
        if r < 0.12:  # typed without accents
            text = "".join(c for c in unicodedata.normalize("NFD", text)
                           if not unicodedata.combining(c))
        elif r < 0.2:  # a keyboard without ő and ű
            text = text.translate(str.maketrans("őűŐŰ", "öüÖÜ"))
    return text


def _slip(rng: random.Random, text: str) -> str:
    """One slipped key in a longer word: two letters swapped, one dropped or doubled."""
    words = text.split(" ")
    long = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not long:
        return text
    i = rng.choice(long)
    w, k = words[i], rng.randrange(1, len(words[i]) - 2)
    words[i] = rng.choice([w[:k] + w[k + 1] + w[k] + w[k + 2:], w[:k] + w[k + 1:],
                           w[:k] + w[k] + w[k:]])
    return " ".join(words)


def draw(rng: random.Random, q: dict, n: int, taken: set[str]) -> list[list]:
    """n rows of new answers to q, none of which is in taken (answers' keys; it grows)."""
    profiles, weights = zip(*PROFILES, strict=True)
    rows = []
    while len(rows) < n:
        profile = rng.choices(profiles, weights)[0]
        for _ in range(30):
            text = " ".join(answer_text(rng, q, profile).split())
            if _key(text) not in taken:
                break
        else:
            continue  # this profile's wordings are used up: draw another
        taken.add(_key(text))
        score = rubric_score(profile)
        rows.append([q["id"], q["question"], q["reference"], text,
                     teacher(rng, score, False), teacher(rng, score, True)])
    return rows


def _key(text: str) -> str:
    """An answer's letters and digits, lowercase, without accents: two answers that differ
    only in case, punctuation or accents count as the same answer."""
    plain = unicodedata.normalize("NFD", text.casefold())
    return "".join(c for c in plain if c.isalnum())


def report(name: str, rows: list[list]) -> None:
    """Score spread, teachers' agreement and how alike the answers of a question are."""
    from sklearn.metrics import cohen_kappa_score

    a, b = [r[4] for r in rows], [r[5] for r in rows]
    qwk = cohen_kappa_score(a, b, labels=list(range(6)), weights="quadratic")
    spread = Counter(a)
    print(f"{name}: {len(rows)} answers; teacher_a scores "
          + " ".join(f"{s}:{spread[s]}" for s in range(6))
          + f"; mean teacher_b - teacher_a {(sum(b) - sum(a)) / len(rows):+.2f}; "
          f"QWK(teacher_a, teacher_b) {qwk:.3f}")
    by_question: dict[str, list[str]] = {}
    for r in rows:
        by_question.setdefault(r[0], []).append(r[3].casefold())
    dups = sum(len(t) - len(set(t)) for t in by_question.values())
    near = sum(any(difflib.SequenceMatcher(None, x, y).ratio() >= 0.9
                   for j, y in enumerate(texts) if j != i)
               for texts in by_question.values() for i, x in enumerate(texts))
    words = sorted(len(r[3].split()) for r in rows)
    print(f"  exact duplicates within a question (ignoring case): {dups}; answers with a "
          f"near-copy (>= 90% alike) in their question: {near}; words per answer "
          f"{words[0]}-{words[-1]}, median {words[len(words) // 2]}")


def main() -> None:
    rng = random.Random(2026)
    later = random.Random(2027)  # the new batch: drawn apart, so the first file never changes
    rows, new_rows = [], []
    for q in QUESTIONS:
        taken: set[str] = set()
        rows += draw(rng, q, PER_QUESTION, taken)
        new_rows += draw(later, q, NEW_PER_QUESTION, taken)
    tables = {"sample_answers.csv": rows, "sample_new_answers.csv": new_rows}
    for name, table in tables.items():
        path = Path(__file__).with_name(name)
        with path.open("w", encoding="utf-8", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(HEADER)
            out.writerows(table)
        print(f"wrote {len(table)} answers to {path}")
    for name, table in tables.items():
        report(name, table)


if __name__ == "__main__":
    main()
