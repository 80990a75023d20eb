"""The concept benchmark's data: everyday concepts, each with held-out sentences and the words that name it.

Written for this benchmark (no artefact of the project was built from them): four sentences a concept,
of different kinds (objects, places, topics, emotions, code, languages, styles), and neutral sentences
about nothing in particular. ``names`` are the stems an explanation must contain to count as naming
the concept (an explanation word matches a stem when it starts with it; stems under four letters must
match whole).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Concept:
    name: str
    kind: str
    query: str                     # what a person would type into the search box
    sentences: tuple[str, ...]
    names: tuple[str, ...]


CONCEPTS = (
    Concept("dogs", "object", "dog", (
        "The puppy wagged its tail and barked at the mail carrier.",
        "She takes her two dogs for a long walk in the park every morning.",
        "Our old beagle sleeps by the fireplace and snores loudly.",
        "The vet said the dog needs a new collar and a leash that fits.",
    ), ("dog", "pupp", "canine", "bark", "leash", "beagle", "terrier", "retriever", "pet")),
    Concept("cats", "object", "cat", (
        "The kitten chased a ball of yarn across the kitchen floor.",
        "My cat purrs whenever someone scratches behind her ears.",
        "The tabby climbed onto the windowsill to watch the birds.",
        "He cleaned the litter box and filled the cat's food bowl.",
    ), ("cat", "kitten", "kitt", "purr", "feline", "tabby", "meow")),
    Concept("cars", "object", "car", (
        "He changed the oil and checked the tyres before the long drive.",
        "The new sedan has a quiet engine and comfortable leather seats.",
        "She parked the car in the garage and locked the doors.",
        "The mechanic replaced the brakes and the worn clutch.",
    ), ("car", "cars", "vehicle", "engine", "drive", "driv", "sedan", "brake", "motor", "auto", "tyre", "tire")),
    Concept("bridges", "object", "bridge", (
        "The suspension bridge spans the river with two tall towers.",
        "Traffic on the bridge was stopped while engineers inspected the cables.",
        "They walked across the old stone bridge into the village.",
        "The new bridge will connect the island to the mainland.",
    ), ("bridge", "span", "suspension", "viaduct")),
    Concept("ocean", "place", "ocean", (
        "Waves crashed against the rocks as the tide came in.",
        "The ship sailed across the Atlantic for three weeks.",
        "Whales and dolphins swim in the deep blue sea.",
        "We walked along the beach and collected shells at low tide.",
    ), ("ocean", "sea", "wave", "tide", "beach", "ship", "sail", "marine", "coast", "shore", "whale", "atlantic",
        "pacific")),
    Concept("mountains", "place", "mountain", (
        "The climbers reached the summit after two days on the ridge.",
        "Snow covered the peaks of the mountains all year round.",
        "The trail winds up the steep slope to a high alpine pass.",
        "From the top of the mountain we could see the valley below.",
    ), ("mountain", "summit", "peak", "climb", "alpine", "ridge", "slope", "hill", "valley")),
    Concept("cities", "place", "city", (
        "The city's streets were crowded with taxis and buses at rush hour.",
        "Tall skyscrapers line the downtown avenues of the metropolis.",
        "The mayor announced a plan to build more housing in the city centre.",
        "Millions of people live in the suburbs around the capital.",
    ), ("city", "cities", "urban", "town", "downtown", "metropol", "street", "mayor", "suburb")),
    Concept("music", "topic", "music", (
        "The band played their new song to a cheering crowd.",
        "She practises the piano for an hour every evening.",
        "The orchestra performed a symphony by Beethoven.",
        "He wrote the melody first and added the lyrics later.",
    ), ("music", "song", "sing", "band", "piano", "orchestra", "symphon", "melod", "lyric", "concert", "album",
        "guitar", "musician")),
    Concept("food", "topic", "cooking", (
        "Chop the onions and fry them in butter until golden.",
        "The recipe calls for two cups of flour and a pinch of salt.",
        "She baked a chocolate cake for her brother's birthday.",
        "Simmer the soup for twenty minutes, then add the fresh herbs.",
    ), ("cook", "food", "recipe", "bake", "baking", "kitchen", "flour", "butter", "soup", "meal", "dish", "onion",
        "salt", "fry", "eat", "cake", "chef")),
    Concept("sports", "topic", "football", (
        "The striker scored a goal in the final minute of the match.",
        "Both teams played hard, but the game ended in a draw.",
        "The coach told the players to defend the penalty area.",
        "Fans filled the stadium to watch the championship game.",
    ), ("football", "soccer", "goal", "match", "team", "player", "game", "stadium", "coach", "score", "league",
        "sport", "championship")),
    Concept("medicine", "topic", "doctor", (
        "The doctor listened to the patient's heart and prescribed a new medicine.",
        "Nurses at the hospital worked long shifts during the flu outbreak.",
        "The surgeon removed the tumour in a three-hour operation.",
        "Take two tablets a day and call the clinic if the fever returns.",
    ), ("doctor", "medic", "patient", "hospital", "nurse", "surg", "clinic", "disease", "health", "treat",
        "fever", "drug", "illness", "symptom")),
    Concept("weather", "topic", "rain", (
        "Heavy rain and strong winds are expected tonight.",
        "The forecast says it will be sunny with a few clouds tomorrow.",
        "A thunderstorm rolled in and lightning lit up the sky.",
        "It snowed all night and the temperature fell below freezing.",
    ), ("rain", "weather", "storm", "wind", "cloud", "snow", "forecast", "thunder", "sunny", "temperature",
        "lightning")),
    Concept("money", "topic", "money", (
        "The bank raised its interest rate on savings accounts.",
        "She paid the bill with a credit card and kept the receipt.",
        "Investors sold their shares when the stock market fell.",
        "He saves part of his salary every month to buy a house.",
    ), ("money", "bank", "pay", "paid", "price", "cost", "dollar", "financ", "invest", "stock", "credit", "cash",
        "salary", "interest", "fund")),
    Concept("space", "topic", "planet", (
        "The telescope captured images of a distant galaxy.",
        "Astronauts aboard the space station conducted experiments in orbit.",
        "Mars is the fourth planet from the Sun.",
        "The rocket launched the satellite into orbit around the Earth.",
    ), ("planet", "space", "galax", "star", "orbit", "astronaut", "rocket", "telescope", "mars", "moon", "sun",
        "satellite", "nasa", "solar")),
    Concept("weddings", "topic", "wedding", (
        "The bride and groom exchanged rings in front of their families.",
        "They sent out the wedding invitations three months in advance.",
        "The couple danced their first dance as husband and wife.",
        "Her bridesmaids wore pale blue dresses at the ceremony.",
    ), ("wedding", "bride", "groom", "marri", "ceremony", "couple", "ring", "husband", "wife", "honeymoon")),
    Concept("politics", "topic", "election", (
        "Voters went to the polls to elect a new president.",
        "The senator's campaign spent millions on television ads.",
        "Parliament passed the bill after a long debate.",
        "The opposition party won a majority of the seats.",
    ), ("elect", "vote", "voter", "president", "senat", "campaign", "parliament", "party", "politic", "govern",
        "democra", "congress", "poll", "law")),
    Concept("anger", "emotion", "angry", (
        "He slammed the door, furious that nobody had listened to him.",
        "She was so angry that her hands were shaking.",
        "The customer shouted at the clerk in a rage.",
        "I am fed up and really mad about how they treated us.",
    ), ("anger", "angry", "furious", "rage", "mad", "annoy", "shout", "hate", "outrage", "irritat")),
    Concept("sadness", "emotion", "sad", (
        "She cried for days after her grandmother died.",
        "He felt lonely and sad, sitting alone in the empty house.",
        "Tears ran down his face as he said goodbye.",
        "The news left the whole family heartbroken and grieving.",
    ), ("sad", "sorrow", "grief", "griev", "cry", "cried", "tear", "lonely", "mourn", "heartbr", "depress",
        "miser", "unhappy", "death", "died")),
    Concept("fear", "emotion", "afraid", (
        "The child was terrified of the dark and would not close her eyes.",
        "My heart pounded with fear as footsteps came up the stairs.",
        "They were scared that the storm would destroy the house.",
        "He panicked and froze, too frightened to move.",
    ), ("fear", "afraid", "terrif", "scare", "fright", "panic", "horror", "dread", "anxi", "nervous")),
    Concept("python code", "code", "python", (
        "def add(a, b):\n    return a + b",
        "import numpy as np\nx = np.zeros(10)",
        "for item in items:\n    print(item)",
        "class Point:\n    def __init__(self, x, y):\n        self.x = x",
    ), ("def", "return", "import", "python", "print", "self", "class", "func", "code", "variable", "list", "int",
        "str", "none", "elif", "lambda", "module")),
    Concept("html", "code", "html", (
        '<div class="header"><a href="/home">Home</a></div>',
        "<ul>\n  <li>First item</li>\n  <li>Second item</li>\n</ul>",
        '<p>Hello, <b>world</b>!</p>\n<img src="logo.png" alt="logo">',
        "<table><tr><td>Name</td><td>Age</td></tr></table>",
    ), ("html", "div", "href", "tag", "li", "ul", "td", "tr", "span", "class", "img", "src", "web", "page")),
    Concept("french", "language", "french", (
        "Le chat dort sur le canapé pendant que nous mangeons.",
        "Je voudrais un café et un croissant, s'il vous plaît.",
        "Nous sommes allés à la plage avec nos amis hier.",
        "Elle habite dans une petite maison près de la rivière.",
    ), ("french", "le", "la", "les", "est", "une", "et", "des", "du", "nous", "vous", "je", "dans", "pour", "avec",
        "sur", "france", "paris")),
    Concept("german", "language", "german", (
        "Der Hund schläft im Garten unter dem großen Baum.",
        "Ich möchte heute Abend mit meinen Freunden ins Kino gehen.",
        "Wir haben das Auto gestern in der Stadt gekauft.",
        "Die Kinder spielen draußen, weil das Wetter schön ist.",
    ), ("german", "der", "die", "das", "und", "ist", "ich", "wir", "mit", "nicht", "ein", "eine", "den", "dem",
        "sch", "germany")),
    Concept("spanish", "language", "spanish", (
        "El perro corre por el parque todas las mañanas.",
        "Me gustaría una mesa para dos personas, por favor.",
        "Nosotros vivimos en una casa cerca de la playa.",
        "Ella estudia medicina en la universidad de Madrid.",
    ), ("spanish", "el", "la", "los", "las", "una", "que", "por", "para", "con", "del", "es", "muy", "spain",
        "mexic")),
    Concept("legal", "style", "court", (
        "The defendant pleaded not guilty and the court adjourned until Monday.",
        "Pursuant to section 4, the tenant shall give thirty days' written notice.",
        "The plaintiff filed a lawsuit alleging breach of contract.",
        "The judge ruled that the evidence was inadmissible at trial.",
    ), ("court", "legal", "law", "judge", "defendant", "plaintiff", "pursuant", "contract", "trial", "lawsuit",
        "attorney", "shall", "guilty", "section", "statut", "clause", "breach")),
    Concept("religion", "style", "god", (
        "And the Lord said unto Moses, go forth and speak to the people.",
        "They prayed together in the church every Sunday morning.",
        "Blessed are the meek, for they shall inherit the earth.",
        "The priest read a passage from the holy scripture.",
    ), ("god", "lord", "pray", "church", "bless", "holy", "priest", "scripture", "bible", "jesus", "christ",
        "faith", "spirit", "heaven", "unto", "moses", "israel", "thou")),
)

NEUTRAL = (
    "The meeting has been moved to half past three on Thursday.",
    "Please fill in the form and return it by the end of the week.",
    "There are several ways to approach this, and each has its merits.",
    "He said he would think about it and let us know tomorrow.",
    "The report lists the main points in the order they were discussed.",
    "Most of the people in the room agreed with the proposal.",
    "It is not clear whether the change will make much difference.",
    "She opened the folder and read the first page again.",
    "The numbers in the second column are slightly higher than last year.",
    "We will need a few more days to finish the remaining work.",
    "If you have any questions, feel free to ask at any time.",
    "This is the third time the schedule has been updated.",
)
