"""Varied, grammatical English sentences for the synthetic corpus, from embedded word lists.

Templates (statements, questions, requests) are filled from a lexicon of several thousand words:
nouns for people, animals, things, food and places, adjectives, transitive and intransitive
verbs with their irregular forms, adverbs, first names and place names. Numbers, years, times of
day and dates are always written as words ("twenty three", "nineteen ninety four", "half past
seven") so that a transcript never holds a digit. Content words are drawn uniformly, not with a
Zipf law, so that a one-hour corpus covers a wide vocabulary (the tests ask for 2,000 words).

Everything is a pure function of a `random.Random`, so a sentence is fixed by its seed.
"""

from __future__ import annotations

import random
import re

# --- the lexicon: compact strings, one word (or "singular:plural" / "base:past") per token ---

PEOPLE = """
actor adult agent artist athlete aunt author baker banker barber bishop boss boxer boy bride
brother builder butcher buyer captain carpenter cashier champion chef chemist child:children
citizen clerk climber coach colleague cook cousin customer dancer daughter dentist designer
detective diver doctor driver drummer editor electrician emperor engineer explorer farmer
father fisherman:fishermen friend gardener general girl governor grandfather grandmother guard
guest guide hunter husband inspector inventor janitor journalist judge king knight lady:ladies
landlord lawyer leader librarian lieutenant lifeguard magician manager mayor mechanic merchant
miner minister monk mother musician neighbour nephew niece nurse officer painter partner
passenger patient pharmacist photographer physician pianist pilot plumber poet policeman:policemen
politician porter postman:postmen president priest prince princess prisoner professor queen
rancher reader referee reporter researcher sailor salesman:salesmen scientist sculptor secretary
senator servant sheriff shepherd singer sister soldier son spy stranger student surgeon tailor
teacher teenager tenant tourist trainer traveller twin uncle umpire veteran villager visitor
volunteer waiter waitress warrior weaver widow wife:wives winner witness woman:women worker
writer youngster baby:babies gentleman:gentlemen man:men person:people neighbor grocer jeweller
novelist violinist guitarist cyclist runner swimmer skater golfer hiker camper rider jockey
butler maid nanny:nannies tutor pupil principal dean chancellor nominee candidate voter
announcer broadcaster narrator comedian clown acrobat juggler magistrate attorney banker
accountant architect astronaut astronomer biologist botanist economist geologist historian
linguist mathematician philosopher physicist psychologist surveyor translator vet zookeeper
firefighter paramedic ranger stranger apprentice intern host hostess owner tenant pirate
"""

ANIMALS = """
ant antelope ape badger bat bear beaver bee beetle bird buffalo:buffaloes bull butterfly:butterflies
camel canary:canaries cat caterpillar cheetah chicken chimpanzee cobra cow crab crane crocodile crow
bison:bison deer:deer dog dolphin donkey dove dragonfly:dragonflies duck eagle eel elephant falcon ferret
finch flamingo fox:foxes frog gazelle giraffe goat goose:geese gorilla grasshopper gull hamster
hare hawk hedgehog hen heron hippo horse hound hummingbird jaguar jellyfish:jellyfish kangaroo
kitten koala lamb leopard lion lizard llama lobster magpie mole monkey moose:moose mosquito:mosquitoes
moth mouse:mice mule octopus:octopuses otter owl ox:oxen oyster panda panther parrot peacock pelican
penguin pig pigeon pony:ponies poodle porcupine puppy:puppies rabbit raccoon ram rat raven rhino
robin rooster salmon:salmon seal shark sheep:sheep snail snake sparrow spider squirrel stork swan
tiger toad tortoise trout:trout turkey turtle walrus:walruses wasp weasel whale wolf:wolves worm
zebra bulldog terrier spaniel beagle collie pheasant quail lark wren woodpecker vulture
"""

THINGS = """
album anchor apron armchair arrow axe backpack bag ball balloon bandage banner barrel basket
bat bath battery:batteries beach:beaches bead bean bed bell belt bench bicycle blanket blender
boat bolt bone book boot bottle bowl box:boxes bracelet brick bridge broom brush:brushes bucket
bulb bus:buses button cabinet cable cage cake calculator calendar camera candle canoe cap car
card carpet cart castle chain chair chalk chart chest:chests chimney clock cloth coat coin collar
comb compass computer cord costume cottage couch:couches crayon cup cupboard curtain cushion
desk diamond diary:diaries dictionary:dictionaries dish:dishes door drawer dress:dresses drill drum
envelope eraser fan feather fence file flag flashlight flute folder fork fountain frame fridge
funnel gate gift glass:glasses glove guitar hammer hammock handbag hat helmet hook horn hose
jacket jar jewel jug kettle key kite knife:knives ladder lamp lantern laptop leaf:leaves letter
lever lid lock locket magazine magnet map mask mat mattress:mattresses medal mirror mitten mop
motorcycle mug nail napkin necklace needle net newspaper notebook oar oven package paddle page
paintbrush:paintbrushes pan parcel pen pencil piano pillow pin pipe plank plate pocket pot
puzzle quilt racket radio rake ring robe rocket rope rug ruler sack saddle sail sandal saucer
saw scarf:scarves scissors:scissors screen screw sculpture shelf:shelves shield ship shirt shoe
shovel sign sink skateboard skirt sled sock sofa spoon stamp statue stool stove suitcase
sweater sword table tablet tape teapot telescope tent thermometer thread ticket tie tile toaster
token tool toothbrush:toothbrushes torch:torches towel tower toy tractor train tray tricycle
trophy:trophies truck trumpet trunk tube umbrella vase vest violin wagon wallet watch:watches
wheel whistle window wire wrench yacht zipper engine motor cannon compass banner
invoice receipt report contract recipe poster painting photograph portrait sketch novel poem
song letter message signal lecture speech:speeches story:stories question answer puzzle riddle
plan idea decision promise secret rumour warning lesson habit hobby:hobbies instrument
machine device gadget appliance sensor keyboard printer speaker microphone headphone charger
battery:batteries antenna spreadsheet website password parachute balloon blueprint ribbon
trolley wheelbarrow sledge snowball pebble boulder crystal marble shell feather acorn
pinecone branch:branches log stump twig thorn petal seed root vine bush:bushes hedge
"""

FOOD = """
apple apricot avocado bagel banana biscuit blueberry:blueberries bread:bread broccoli:broccoli
brownie burger butter:butter cabbage carrot casserole cereal:cereal cheese:cheese cherry:cherries
chocolate coconut cookie corn:corn cracker croissant cucumber cupcake curry:curries date dumpling
egg fig garlic:garlic grape grapefruit ham:ham hamburger honey:honey jam:jam
lasagne lemon lettuce:lettuce lime mango:mangoes melon muffin mushroom noodle nut olive omelette
onion orange pancake papaya pasta:pasta peach:peaches peanut pear pepper pickle pie pineapple
pizza plum popcorn:popcorn potato:potatoes pretzel pudding pumpkin radish:radishes raisin
raspberry:raspberries rice:rice roll salad sandwich:sandwiches sausage soup:soup spinach:spinach
steak strawberry:strawberries sushi:sushi taco tart toast:toast tomato:tomatoes turnip waffle
walnut watermelon yoghurt:yoghurt almond cashew pistachio chestnut sardine kebab risotto:risotto
porridge:porridge biscuit scone crumpet meatball tortilla noodle lentil:lentils bean
"""

PLACE_NOUNS = """
airport bakery:bakeries bank barn beach:beaches bookshop bridge cafe canyon castle cathedral
cave cellar church:churches cinema city:cities classroom cliff clinic coast cottage court
desert dock factory:factories farm field forest fortress garage garden gym hall harbour
hill hospital hotel house island jungle kitchen laboratory:laboratories lake library:libraries
lighthouse market meadow mill mine monastery:monasteries mountain museum office orchard palace
park parliament pharmacy:pharmacies pier playground plaza pond port prison quarry:quarries
railway ranch restaurant river road school shop square stadium station street studio
supermarket swamp temple theatre tower town tunnel university:universities valley village
vineyard warehouse workshop zoo attic basement bathroom bedroom corridor garage hallway
balcony:balconies porch:porches rooftop greenhouse stable courtyard campsite marina
aquarium embassy:embassies gallery:galleries laundry:laundries pharmacy:pharmacies bay
"""

ADJECTIVES = """
able absent active actual adorable adventurous afraid aggressive alert alive amazing ancient
angry annual anxious arctic awful awkward bad bare basic beautiful big bitter black bland blank
blind blond blue blunt bold bored boring brave brief bright brilliant broad broken brown busy
calm capable careful careless casual cautious central certain charming cheap cheerful chilly
chubby circular civil classic clean clear clever close cloudy clumsy coarse cold colourful
comfortable common complete complex confident confused cool correct costly cosy courageous
cowardly crazy creative crisp crooked crowded cruel crunchy cuddly curious curly cute damp
dangerous dark dead dear decent deep defiant delicate delicious delightful dense dependable
different difficult dirty distant dizzy domestic double dramatic dreadful dry dull dusty eager
early easy eastern elderly electric elegant empty endless energetic enormous entire equal
essential evil exact excellent excited exciting expensive experienced expert faint fair
faithful false familiar famous fancy fantastic far fast fat fearless feeble fierce filthy fine
firm first flat flexible fluffy foggy foolish foreign formal former fragile frail free frequent
fresh friendly frightened frozen full funny furry fuzzy gentle genuine giant gifted glad gloomy
glorious golden good gorgeous graceful grand grateful great greedy green grey grumpy guilty
hairy handsome handy happy hard harsh healthy heavy helpful helpless hidden high hilarious
hollow holy homeless honest hopeful horrible hot huge humble hungry icy ideal idle ill
immense important impossible impressive innocent intense interesting jealous jolly joyful
juicy junior keen kind large late lazy lean legal light likely little lively local lonely
long loose loud lovely low loyal lucky lumpy mad magic magnificent main major massive mature
mean medical medium mellow messy mighty mild military minor misty modern modest moist
mysterious narrow nasty national natural naughty neat necessary nervous new nice noble
noisy normal northern numerous obedient obvious odd official old open orange ordinary organic
original outdoor outstanding painful pale patient peaceful perfect personal plain pleasant
plump polite poor popular portable powerful practical precious pretty previous private proper
proud public pure purple puzzled quick quiet rapid rare raw ready real red regular remote
rich ripe rough round royal rude rural rusty sad safe salty scared scary secret secure
selfish senior sensible serious shallow sharp shiny short shy sick silent silky silly silver
simple sincere single skinny sleepy slim slippery slow small smart smooth soft solid sore
sour southern spare special spicy splendid spotless square stale steady steep sticky stiff
still stormy straight strange strict striped strong stubborn stupid sturdy sudden sunny super
sweet swift tall tame tasty tender terrible thick thin thirsty tidy tight tiny tired tough
tricky tropical true typical ugly unusual upset urgent useful useless vacant vague valid
valuable vast violent visible vital vivid warm weak wealthy weary weird western wet white
whole wicked wide wild wise wonderful wooden woollen worried worthy wrong yellow young
zealous abandoned absurd accurate acidic adequate affectionate agile alarming ambitious
amused ashamed astonishing athletic attractive authentic automatic average beloved bewildered
blissful boastful bouncy breezy bumpy candid chaotic charitable chewy chief clueless coastal
colossal competent considerate content crafty crimson cultural cunning dainty daring dazzling
decisive dedicated dim diligent discreet distinct dreamy dusky earnest edible efficient
elaborate elastic eloquent emerald enchanted enthusiastic envious exhausted exotic
extraordinary fabulous faded fiery flawless fond forgetful fortunate fragrant frantic frosty
fruitful generous gigantic glamorous gleaming glossy graceful gracious grassy grateful
gritty handmade harmless hasty hazy heroic hideous historic hospitable humid hurried
imaginary immaculate impatient incredible indoor industrial infinite informal ingenious
inland innocent jagged jovial jumpy knotty lavish legendary leisurely lofty luminous
majestic marvellous meek merry mindful miniature mischievous monstrous mossy muddy musical
muscular naive nimble nutty obscure oily optimistic orderly ornate overjoyed patchy pensive
perky petite playful pleasing polished pompous posh prickly productive prosperous punctual
quaint radiant rainy reckless relaxed reliable respectful restless rickety rocky rosy rowdy
rugged rustic sandy scarlet scenic scrawny seasoned sensitive serene shabby sheltered
shimmering skilful sleek slender sloppy smoky snowy soggy solemn sophisticated sparkling
speedy spiky spiteful spotted stately sticky stormy sublime suburban sugary superb swampy
tangy tattered tedious thorough thoughtful thrifty timid tiresome towering tranquil
trusty turquoise unfair unlucky upbeat velvet vibrant victorious vigilant vintage virtual
wary watchful wavy whimsical windy wiry witty wobbly woeful wrinkled zesty
"""

# Transitive verbs by the kind of object they take, so that sentences stay plausible enough for a
# listener's (or a recognizer's) language model: "base", or "base:past" where the past tense is
# irregular or doubles a consonant. "any" verbs take every kind.
TRANSITIVE_VERBS = {
    "any": """
admire avoid choose:chose count describe draw:drew find:found follow forget:forgot ignore imagine
like love mention miss notice observe photograph prefer:preferred recognise remember see:saw sketch
spot:spotted study:studied want watch film discover record hate mind find:found search select
""",
    "things": """
borrow break:broke bring:brought build:built buy:bought carry:carried carve check clean close
collect colour copy:copied cover decorate deliver design destroy drag:dragged drop:dropped dry:dried
examine fetch fill fix fold grab:grabbed hang:hung hide:hid hold:held inspect iron keep:kept label
lend:lent lift lock make:made measure mend move open order pack paint pass polish post print pull
push receive remove repair replace return roll scrub:scrubbed sell:sold send:sent sharpen share
sort stack steal:stole store swap:swapped test throw:threw tidy:tidied tie touch unlock unpack
unwrap:unwrapped use wash weigh wipe wrap:wrapped assemble construct fasten handle polish press
rearrange rent reserve rinse scatter seal sew shake:shook sign staple stuff supply switch twist
unfold vacuum purchase preserve produce provide trim:trimmed damage lose:lost misplace wind:wound
""",
    "food": """
bake boil buy:bought chop:chopped cook cut:cut deliver eat:ate fry:fried grow:grew harvest heat mix
order pack peel pick plant pour prepare serve share slice smell sell:sold squeeze stir:stirred
taste toast unwrap:unwrapped wash weigh bring:brought carry:carried drop:dropped finish freeze:froze
offer steal:stole sprinkle warm spill:spilled store
""",
    "animals": """
adopt brush calm catch:caught chase comb feed:fed frighten groom guide hug:hugged hunt lead:led
name pat:patted protect rescue ride:rode save scare shelter tame tickle track train trap:trapped
wash weigh walk carry:carried lift bathe release free examine photograph measure
""",
    "people": """
advise answer applaud blame call comfort congratulate convince encourage entertain forgive:forgave
greet guide help hire interrupt invite join meet:met pay:paid persuade phone praise question
rescue respect reward scold support surprise teach:taught tease tell:told thank thank trust
visit warn welcome wake:woke hug:hugged kiss ask email recommend introduce thank remind
""",
}
INTRANSITIVE_VERBS = """
agree:agreed appear argue arrive bark blink blush bounce bow breathe camp cheer complain cough
crawl cry:cried dance disappear dive:dove dream float frown gasp giggle glow grin:grinned groan
growl hesitate hop:hopped hurry:hurried jog:jogged jump kneel:knelt knock laugh lean lie:lay
listen march matter nod:nodded pause panic:panicked pray rain relax rest retire return rise:rose
roar run:ran rush scream shiver shout shrug:shrugged sigh sit:sat skate ski sleep:slept slide:slid
slip:slipped smile sneeze snore speak:spoke spin:spun stand:stood stare stay stumble succeed
swim:swam tremble travel:travelled vanish wait wander whisper work worry:worried yawn yell
wobble wriggle paddle sparkle shine:shone hover drift swing:swung sail gallop jog:jogged
"""

ADVERBS = """
quickly slowly quietly loudly carefully carelessly happily sadly angrily calmly eagerly gently
gladly badly boldly bravely brightly briskly cautiously cheerfully clearly closely correctly
curiously daily deliberately easily elegantly enthusiastically equally eventually exactly
fairly faithfully fiercely finally firmly fondly foolishly frankly freely frequently generously
gracefully greedily hastily heavily honestly hopefully hungrily immediately innocently
joyfully kindly lazily lightly madly merrily miserably mysteriously nearly neatly nervously
noisily normally obediently openly patiently perfectly politely poorly promptly properly
proudly quietly rapidly rarely readily recklessly regularly reluctantly repeatedly rudely
safely secretly seriously sharply shyly silently simply sleepily smoothly softly solemnly
sometimes speedily steadily sternly strictly successfully suddenly swiftly tenderly
thankfully thoroughly thoughtfully tightly truly urgently usually vaguely warmly weakly
wearily wildly wisely yearly boldly briefly busily casually certainly completely
deliberately doubtfully energetically fortunately gleefully hurriedly instantly jealously
joyously knowingly loosely meaningfully mostly naturally occasionally painfully playfully
punctually quaintly rightfully roughly sheepishly silently sleepily sternly stubbornly
tensely terribly unexpectedly utterly victoriously vivaciously wholly willingly zealously
"""

FIRST_NAMES = """
adam alice amelia andrew anna arthur ben bella charlie chloe daniel david edward ella emily
emma ethan fiona frank george grace hannah harry helen henry isaac isabel jack jacob james
jane jessica john joseph julia kate laura leo lily lucy luke maria mark martha mary max mia
michael nancy nathan noah oliver olivia oscar paul peter rachel robert rose ruby sam sarah
simon sophie steven susan thomas tom victoria william zoe albert beatrice carlos diana eric
felix gloria hugo irene jasper karen leonard margaret nora patrick quentin rebecca sandra
theodore ursula vincent wendy xavier yvonne walter agnes bernard clara dennis eleanor
francis gordon harold ivy jerome kevin lionel monica neil olga pamela ralph stella trevor
vera wesley abigail brian carol dorothy edgar florence gilbert hazel ian joan kenneth lydia
martin nigel philip roger sylvia timothy vivian warren
"""

PLACE_NAMES = """
london paris berlin madrid rome vienna dublin edinburgh glasgow manchester liverpool bristol
oxford cambridge boston chicago denver seattle houston dallas atlanta miami phoenix portland
toronto vancouver montreal sydney melbourne auckland tokyo kyoto beijing shanghai delhi mumbai
cairo nairobi lagos lisbon athens prague warsaw budapest oslo stockholm helsinki copenhagen
amsterdam brussels geneva zurich venice florence naples milan barcelona seville moscow
istanbul dubai singapore bangkok manila jakarta seoul mexico lima santiago havana chile peru
brazil canada australia japan china india egypt kenya france germany spain italy portugal
greece norway sweden finland denmark ireland scotland wales england iceland poland hungary
austria switzerland belgium holland russia turkey morocco nigeria argentina colombia texas
california florida alaska hawaii ohio oregon nevada arizona montana vermont virginia georgia
africa europe asia america antarctica
"""

DAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
MONTHS = ("january february march april may june july august september october november "
          "december").split()
SEASONS = "spring summer autumn winter".split()
COLOURS = "red blue green yellow purple orange pink brown black white grey silver golden".split()
PREPOSITIONS_OF_PLACE = ["near", "behind", "beside", "under", "above", "inside", "outside",
                         "next to", "in front of", "across from", "opposite", "beyond", "around"]

# --- numbers as words ---

ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
ORDINAL_EXCEPTIONS = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                      "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}


def number_to_words(n: int) -> str:
    """0 <= n < 1,000,000 in words, British style: 2345 -> 'two thousand three hundred and forty five'."""
    if not 0 <= n < 1_000_000:
        raise ValueError(f"number_to_words: {n} is out of range; allowed 0 to 999,999")
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return ONES[n // 100] + " hundred" + ("" if rest == 0 else " and " + number_to_words(rest))
    rest = n % 1000
    head = number_to_words(n // 1000) + " thousand"
    if rest == 0:
        return head
    return head + (" and " if rest < 100 else " ") + number_to_words(rest)


def ordinal_to_words(n: int) -> str:
    """1 -> 'first', 23 -> 'twenty third', 40 -> 'fortieth'."""
    words = number_to_words(n).split()
    last = words[-1]
    if last in ORDINAL_EXCEPTIONS:
        last = ORDINAL_EXCEPTIONS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last = last + "th"
    return " ".join(words[:-1] + [last])


def year_to_words(year: int) -> str:
    """Years as people say them: 1994 -> 'nineteen ninety four', 2007 -> 'two thousand and seven'."""
    if 2000 <= year < 2010:
        return "two thousand" + ("" if year == 2000 else " and " + ONES[year % 10])
    century, rest = divmod(year, 100)
    if rest == 0:
        return number_to_words(century) + " hundred"
    tail = "oh " + ONES[rest] if rest < 10 else number_to_words(rest)
    return number_to_words(century) + " " + tail


def time_to_words(hour: int, minute: int) -> str:
    """A clock time, e.g. (7, 30) -> 'half past seven', (9, 5) -> 'nine oh five'."""
    if minute == 0:
        return number_to_words(hour) + " o'clock"
    if minute == 15:
        return "a quarter past " + number_to_words(hour)
    if minute == 30:
        return "half past " + number_to_words(hour)
    if minute == 45:
        return "a quarter to " + number_to_words(hour % 12 + 1)
    if minute < 10:
        return number_to_words(hour) + " oh " + ONES[minute]
    return number_to_words(hour) + " " + number_to_words(minute)


# --- inflection ---


def _parse_pairs(words: str) -> dict[str, str | None]:
    """'child:children dog' -> {'child': 'children', 'dog': None} (None: the regular form)."""
    pairs: dict[str, str | None] = {}
    for token in words.split():
        base, _, special = token.partition(":")
        pairs.setdefault(base, special or None)
    return pairs


VOWELS = "aeiou"


def plural(noun: str, irregular: str | None = None) -> str:
    if irregular:
        return irregular
    if noun.endswith(("s", "sh", "ch", "x", "z")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in VOWELS:
        return noun[:-1] + "ies"
    return noun + "s"


def past_tense(verb: str, irregular: str | None = None) -> str:
    if irregular:
        return irregular
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2] not in VOWELS:
        return verb[:-1] + "ied"
    return verb + "ed"


def third_person(verb: str) -> str:
    if verb == "have":
        return "has"
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2] not in VOWELS:
        return verb[:-1] + "ies"
    return verb + "s"


def with_article(phrase: str, rng: random.Random) -> str:
    """'a' or 'an' by sound (a handful of spelling exceptions), or 'the' / a possessive."""
    article = rng.choice(["a", "a", "the", "the", "the", "my", "your", "our", "his", "her", "this"])
    if article == "a":
        article = "an" if _starts_with_vowel_sound(phrase) else "a"
    return f"{article} {phrase}"


def _starts_with_vowel_sound(word: str) -> bool:
    if word.startswith(("uni", "use", "usu", "eu", "one", "ewe")):
        return False
    if word.startswith(("hour", "honest", "honour", "heir")):
        return True
    return word[0] in VOWELS


class Lexicon:
    """The word lists parsed once, with their inflected forms."""

    def __init__(self):
        self.people = _parse_pairs(PEOPLE)
        self.animals = _parse_pairs(ANIMALS)
        self.things = _parse_pairs(THINGS)
        self.food = _parse_pairs(FOOD)
        self.places = _parse_pairs(PLACE_NOUNS)
        self.adjectives = sorted(set(ADJECTIVES.split()))
        self.verbs_for = {kind: _parse_pairs(words) for kind, words in TRANSITIVE_VERBS.items()}
        self.transitive = {verb: past for table in self.verbs_for.values() for verb, past in table.items()}
        self.intransitive = _parse_pairs(INTRANSITIVE_VERBS)
        self.adverbs = sorted(set(ADVERBS.split()))
        self.names = sorted(set(FIRST_NAMES.split()))
        self.place_names = sorted(set(PLACE_NAMES.split()))
        self.agents = {**self.people, **self.animals}  # what can do an intransitive verb
        self.objects = {**self.things, **self.food, **self.animals}
        self.object_tables = {"things": self.things, "food": self.food, "animals": self.animals, "people": self.people}
        self._keys = {kind: sorted(table) for kind, table in self.object_tables.items()}
        self._verb_keys = {kind: sorted(table) for kind, table in self.verbs_for.items()}
        self._agent_list = sorted(self.agents)
        self._object_list = sorted(self.objects)
        self._place_list = sorted(self.places)
        self._intransitive_list = sorted(self.intransitive)

    def words(self) -> set[str]:
        """Every word form the generator can emit from the lexicon (numbers and templates aside)."""
        forms: set[str] = set(self.adjectives) | set(self.adverbs) | set(self.names) | set(self.place_names)
        for table in (self.people, self.animals, self.things, self.food, self.places):
            for noun, irregular in table.items():
                forms |= {noun, plural(noun, irregular)}
        for table in (*self.verbs_for.values(), self.intransitive):
            for verb, irregular in table.items():
                forms |= {verb, past_tense(verb, irregular), third_person(verb)}
        return {w for form in forms for w in form.split()}

    # noun phrases

    def noun(self, table: dict[str, str | None], keys: list[str], rng: random.Random,
             plural_probability: float = 0.3) -> tuple[str, bool]:
        """A bare noun (maybe plural) and whether it is plural."""
        word = rng.choice(keys)
        if rng.random() < plural_probability:
            return plural(word, table[word]), True
        return word, False

    def noun_phrase(self, table, keys, rng: random.Random, adjective_probability: float = 0.4) -> tuple[str, bool]:
        word, is_plural = self.noun(table, keys, rng)
        if rng.random() < adjective_probability:
            word = f"{rng.choice(self.adjectives)} {word}"
            if rng.random() < 0.05:
                word = f"{rng.choice(self.adjectives)} {word}"
        if is_plural:
            count = rng.random()
            if count < 0.4:
                return f"{number_to_words(rng.randint(2, 99))} {word}", True
            if count < 0.6:
                return f"{rng.choice(['some', 'many', 'several', 'a few', 'the', 'their', 'our'])} {word}", True
            return f"the {word}", True
        return with_article(word, rng), False

    def subject(self, rng: random.Random, animals: bool = False) -> tuple[str, bool]:
        """Who does something: a name, or a person (or, for intransitive verbs, an animal too)."""
        if rng.random() < 0.25:
            return rng.choice(self.names), False
        if animals:
            return self.noun_phrase(self.agents, self._agent_list, rng)
        return self.noun_phrase(self.people, self._keys["people"], rng)

    def object_kind(self, rng: random.Random) -> str:
        return rng.choices(["things", "food", "animals", "people"], weights=[5, 2, 2, 2])[0]

    def object(self, kind: str, rng: random.Random) -> str:
        if kind == "people" and rng.random() < 0.3:
            return rng.choice(self.names)
        return self.noun_phrase(self.object_tables[kind], self._keys[kind], rng)[0]

    def verb_and_object(self, rng: random.Random) -> tuple[str, str | None, str]:
        """A transitive verb (base form, irregular past or None) with an object it can take."""
        kind = self.object_kind(rng)
        verb, irregular = self.transitive_verb(kind, rng)
        return verb, irregular, self.object(kind, rng)

    def place_phrase(self, rng: random.Random) -> str:
        if rng.random() < 0.3:
            return f"{rng.choice(['in', 'near', 'outside', 'to the north of', 'far from'])} {rng.choice(self.place_names)}"
        place = self.noun_phrase(self.places, self._place_list, rng, adjective_probability=0.4)[0]
        return f"{rng.choice(PREPOSITIONS_OF_PLACE + ['in', 'at', 'on the way to'])} {place}"

    def time_phrase(self, rng: random.Random, future: bool = False) -> str:
        """When: a clock time, a day, a date, a season; a year or 'ago' only for the past."""
        kind = rng.randrange(5 if future else 7)
        if kind == 0:
            return f"at {time_to_words(rng.randint(1, 12), rng.choice([0, 5, 10, 15, 20, 30, 40, 45, 50, 55]))}"
        if kind == 1:
            return f"on {rng.choice(DAYS)} {rng.choice(['morning', 'afternoon', 'evening', 'night'])}"
        if kind == 2:
            return f"on the {ordinal_to_words(rng.randint(1, 31))} of {rng.choice(MONTHS)}"
        if kind == 3:
            return f"in the {rng.choice(['early', 'late'])} {rng.choice(SEASONS)}"
        if kind == 4:
            if future:
                return rng.choice(["tomorrow", "tonight", "next week", "next summer", "after lunch",
                                   "before dinner", "at midnight", "later today", "next year"])
            return rng.choice(["yesterday", "last night", "this morning", "last week", "every day",
                               "last summer", "at dawn", "at midnight", "after lunch", "before dinner"])
        if kind == 5:
            return f"in {year_to_words(rng.randint(1850, 2025))}"
        return f"{number_to_words(rng.randint(2, 60))} {rng.choice(['minutes', 'hours', 'days', 'weeks', 'years'])} ago"

    def transitive_verb(self, kind: str, rng: random.Random) -> tuple[str, str | None]:
        """A verb for objects of `kind`, or one that takes any object (one time in four)."""
        group = "any" if rng.random() < 0.25 else kind
        verb = rng.choice(self._verb_keys[group])
        return verb, self.verbs_for[group][verb]

    def intransitive_verb(self, rng: random.Random) -> tuple[str, str | None]:
        verb = rng.choice(self._intransitive_list)
        return verb, self.intransitive[verb]


# --- templates: each returns a sentence without its final punctuation, and that punctuation ---


def _past_statement(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject, _ = lex.subject(rng)
    verb, irregular, obj = lex.verb_and_object(rng)
    parts = [subject]
    if rng.random() < 0.3:
        parts.append(rng.choice(lex.adverbs))
    parts += [past_tense(verb, irregular), obj]
    if rng.random() < 0.6:
        parts.append(lex.place_phrase(rng))
    if rng.random() < 0.5:
        parts.append(lex.time_phrase(rng))
    return " ".join(parts), "."


def _present_statement(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject, is_plural = lex.subject(rng)
    verb, _, obj = lex.verb_and_object(rng)
    frequency = rng.choice(["usually", "often", "never", "always", "sometimes", "rarely", ""])
    verb_form = verb if is_plural else third_person(verb)
    parts = [subject, frequency, verb_form, obj, lex.place_phrase(rng)]
    return " ".join(p for p in parts if p), "."


def _intransitive_statement(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject, _ = lex.subject(rng, animals=True)
    verb, irregular = lex.intransitive_verb(rng)
    parts = [subject, past_tense(verb, irregular), rng.choice(lex.adverbs), lex.place_phrase(rng)]
    if rng.random() < 0.5:
        parts.append(lex.time_phrase(rng))
    return " ".join(parts), "."


def _future_statement(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject, _ = lex.subject(rng)
    verb, _, obj = lex.verb_and_object(rng)
    modal = rng.choice(["will", "might", "should", "could", "must", "can"])
    return " ".join([subject, modal, verb, obj, lex.time_phrase(rng, future=True)]), "."


def _yes_no_question(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject, is_plural = lex.subject(rng)
    verb, _, obj = lex.verb_and_object(rng)
    auxiliary = rng.choice(["did", "do" if is_plural else "does", "will", "can", "would"])
    parts = [auxiliary, subject, verb, obj]
    if rng.random() < 0.6:
        parts.append(lex.place_phrase(rng))
    return " ".join(parts), "?"


def _wh_question(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject, _ = lex.subject(rng)
    kind = rng.randrange(3)
    if kind == 0:
        object_kind = rng.choice(["things", "food", "animals"])
        verb, _ = lex.transitive_verb(object_kind, rng)
        noun = rng.choice(lex._keys[object_kind])
        noun = plural(noun, lex.object_tables[object_kind][noun])
        return f"how many {noun} did {subject} {verb} {lex.place_phrase(rng)}", "?"
    verb, _, obj = lex.verb_and_object(rng)
    if kind == 1:
        return f"{rng.choice(['why', 'when', 'where', 'how'])} did {subject} {verb} {obj}", "?"
    return f"who {rng.choice(['will', 'can', 'should'])} {verb} {obj} {lex.time_phrase(rng, future=True)}", "?"


def _description(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject, is_plural = lex.noun_phrase(lex.objects, lex._object_list, rng, adjective_probability=0.3)
    be = rng.choice(["were", "are"] if is_plural else ["was", "is"])
    first, second = rng.sample(lex.adjectives, 2)
    tail = f"{first} and {second}" if rng.random() < 0.5 else f"{rng.choice(['very', 'rather', 'quite', 'too', 'not'])} {first}"
    parts = [subject, lex.place_phrase(rng), be, tail]
    return " ".join(parts), rng.choice([".", ".", "!"])


def _quantity(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    name = rng.choice(lex.names)
    object_kind = rng.choice(["things", "food", "animals"])
    verb, irregular = lex.transitive_verb(object_kind, rng)
    count = rng.randint(2, 999) if rng.random() < 0.8 else rng.randint(1000, 9999)
    noun = rng.choice(lex._keys[object_kind])
    adjective = rng.choice(lex.adjectives)
    return (f"{name} {past_tense(verb, irregular)} {number_to_words(count)} {adjective} "
            f"{plural(noun, lex.object_tables[object_kind][noun])} {lex.time_phrase(rng)}"), "."


def _request(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    verb, _, obj = lex.verb_and_object(rng)
    opener = rng.choice(["please", "could you", "would you", "let us", "try to", "remember to"])
    parts = [opener, verb, obj, lex.place_phrase(rng)]
    if rng.random() < 0.4:
        parts.append(rng.choice(["before", "after"]) + " " + rng.choice(["lunch", "dinner", "breakfast", "midnight", "the meeting", "the holidays"]))
    punctuation = "?" if opener in ("could you", "would you") else "."
    return " ".join(parts), punctuation


def _compound(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    first, _ = _past_statement(lex, rng)
    second, _ = _intransitive_statement(lex, rng)
    return f"{first}, {rng.choice(['and', 'but', 'so', 'because', 'while', 'although'])} {second}", "."


TEMPLATES = [
    (_past_statement, 4), (_present_statement, 2), (_intransitive_statement, 2),
    (_future_statement, 2), (_yes_no_question, 2), (_wh_question, 2), (_description, 2),
    (_quantity, 1), (_request, 1), (_compound, 1),
]
_TEMPLATE_FUNCTIONS = [template for template, _ in TEMPLATES]
_TEMPLATE_WEIGHTS = [weight for _, weight in TEMPLATES]


class SentenceGenerator:
    """Random English sentences; `sentence(rng)` is a pure function of the generator state."""

    def __init__(self, min_words: int = 4, max_words: int = 24):
        self.lexicon = Lexicon()
        self.min_words, self.max_words = min_words, max_words

    def sentence(self, rng: random.Random) -> str:
        for _ in range(100):
            template = rng.choices(_TEMPLATE_FUNCTIONS, weights=_TEMPLATE_WEIGHTS)[0]
            body, punctuation = template(self.lexicon, rng)
            body = re.sub(r"\s+", " ", body).strip()
            if self.min_words <= len(body.split()) <= self.max_words:
                return body + punctuation
        raise RuntimeError(f"no sentence of {self.min_words}..{self.max_words} words in 100 draws")


def words_of(text: str) -> list[str]:
    """The words of a transcript, lower case, without punctuation (apostrophes kept)."""
    return re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())
