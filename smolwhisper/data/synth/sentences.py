"""Natural, grammatical English sentences for the synthetic corpus, from embedded word lists.

Everyday sentence frames (statements, questions, requests, plans, travel, weather, prices,
schedules) are filled from word lists grouped by meaning, so that a filled frame is something a
person might say: verbs take only objects they fit ("peel an orange", "feed the ducks"), adjectives
only nouns they fit ("a ripe pear", "a patient nurse"), mass nouns are never counted ("some rice",
"how much rice"), and subjects agree with their verbs. A recognizer with a language model (Whisper
tiny.en, or a person) hears such sentences much better than word salad; a model trained from
scratch meets the collocations of real speech.

Numbers, years, dates and clock times are written as words in the forms Whisper's English text
normalizer maps onto digits ("twenty three", "nineteen ninety four", "the twenty first of
march", "half past seven"); clock times like "seven forty" are not used, because "7.40" and
"seven forty" do not normalize alike. Words that tiny.en spells another way the normalizer does
not reconcile ("doughnut"/"donut", "saucepan"/"sauce pan", "skilful"/"skillful") are left out,
so that a transcript's errors are the listener's, not the spelling's. Content words are drawn
uniformly from their lists, so a one-hour corpus still covers a wide vocabulary (the tests ask for
2,000 distinct words).

Everything is a pure function of a `random.Random`, so a sentence is fixed by its seed.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass


# --- the lexicon: one word per token; "singular:plural" or "base:past" where irregular ---

JOBS = """
actor artist baker banker barber builder butcher captain carpenter cashier chef chemist cleaner
coach cook dancer dentist designer detective doctor driver editor electrician engineer farmer
firefighter fisherman:fishermen gardener guide hairdresser journalist judge lawyer librarian
manager mechanic musician nurse painter pharmacist photographer pilot plumber poet police_officer
postman:postmen professor reporter scientist secretary singer soldier student surgeon tailor
teacher waiter waitress writer architect accountant astronaut farmer jeweller lifeguard magician
mayor miner nanny:nannies pianist porter priest ranger referee sailor sculptor  
translator tutor vet  
cleaner gardener builder dentist paramedic receptionist programmer economist historian biologist
counsellor instructor inspector officer clerk salesman:salesmen   nurse    
        florist grocer locksmith shepherd   technician therapist
"""

PEOPLE = """
boy girl man:men woman:women child:children baby:babies teenager student neighbour friend
stranger visitor guest tourist passenger customer player family:families couple crowd team
king queen prince princess cyclist runner swimmer golfer climber
athlete fan driver rider hiker traveller pupil twin volunteer winner
expert beginner champion hero:heroes heroine loser leader member owner partner patient pilot
prisoner rescuer speaker spectator stranger thief:thieves tenant witness youngster
"""

RELATIVES = """
mother father sister brother aunt uncle cousin grandmother grandfather son daughter wife:wives
husband friend neighbour boss niece nephew
"""

ANIMALS = """
ant bat bear bee beetle bird buffalo:buffaloes bull butterfly:butterflies camel cat caterpillar
cheetah chicken cow crab crocodile crow deer:deer dog dolphin donkey duck eagle elephant falcon
fox:foxes frog giraffe goat goose:geese gorilla hamster hedgehog hen horse kangaroo kitten koala
lamb leopard lion lizard monkey mouse:mice octopus:octopuses otter owl panda parrot penguin pig
pigeon pony:ponies puppy:puppies rabbit rat robin seagull seal shark sheep:sheep snail snake
sparrow spider squirrel swan tiger tortoise turkey turtle whale wolf:wolves zebra beaver
badger rhino hippo moose:moose raccoon peacock pelican flamingo    
ostrich:ostriches jellyfish:jellyfish lobster         salmon:salmon    
chimpanzee antelope bison:bison alligator woodpecker toad wasp worm goldfish:goldfish poodle
"""

# Household and everyday objects: the things people carry, fix, buy, lose and find.
THINGS = """
album backpack bag ball balloon basket battery:batteries bell belt bicycle blanket boat book
boot bottle bowl box:boxes bracelet brush:brushes bucket button cable calendar camera candle cap
car card carpet chair clock coat coin computer cup curtain cushion desk diary:diaries dictionary:dictionaries
dish:dishes door drawer dress:dresses drum envelope fan fence flag flashlight flower folder fork
gift glass:glasses glove guitar hammer handbag hat helmet jacket jar kettle key kite knife:knives
ladder lamp lantern laptop letter lock magazine map mask medal mirror mug necklace needle
newspaper notebook package pan parcel pen pencil phone photo piano picture pillow plate pot
poster puzzle radio rake ribbon ring rope rug ruler   scarf:scarves   shirt
shoe shovel skateboard sock sofa spoon stamp suitcase sweater table tablet   telescope tent
ticket tie toaster toothbrush:toothbrushes torch:torches towel toy tray trophy:trophies trumpet
umbrella vase violin wallet watch:watches wheel whistle window painting printer keyboard
microphone charger sandwich:sandwiches   novel recipe invoice receipt report
contract postcard passport wheelbarrow hose bench broom      
apron anchor armchair axe badge bandage barrel bead blender bolt bookmark bracelet brick bulb
cabinet camera canoe carton chain chalk compass crayon crown cupboard dice:dice doll    
earring eraser fork frame   gate     hook iron   kayak lid lipstick
locket magnet marker mattress:mattresses microwave mitten mop nail napkin padlock paddle pebble perfume
pin pipe plank plug pocket purse quilt racket raincoat   remote ribbon   sandal saw scooter
screw shampoo sheet shield shovel slipper soap   sponge stapler stool stove sword
tap     thermometer   tissue tool tractor trolley trunk tyre vacuum van wagon wire
  yacht zip bicycle bus:buses lorry motorbike rocket submarine tram truck
"""

# Things to put other things on, in or under (for "the keys are under the cushion").
FURNITURE = """
table desk bed sofa chair shelf bench cupboard drawer fridge counter piano bookcase wardrobe
    carpet stairs
"""

COUNTABLE_FOOD = """
apple apricot avocado bagel banana biscuit blueberry:blueberries brownie burger cabbage carrot
cherry:cherries coconut cookie cracker croissant cucumber cupcake dumpling egg grape grapefruit
lemon lime mango:mangoes melon muffin mushroom nut olive onion orange pancake peach:peaches
peanut pear pepper pickle pie pineapple pizza plum potato:potatoes pretzel pumpkin radish:radishes
raspberry:raspberries sandwich:sandwiches sausage strawberry:strawberries tomato:tomatoes waffle
walnut watermelon almond   tortilla cake   lollipop
apricot   biscuit bun chestnut     cupcake date fig kiwi   lentil lobster
melon   noodle omelette     pea pineapple       tangerine turnip
carrot cauliflower   bean   hamburger kebab taco
"""

# Food and drink that are not counted: "some rice", "how much tea", never "three rices".
MASS_FOOD = """
bread butter cheese rice soup pasta honey jam toast cereal porridge chocolate yoghurt spinach
broccoli garlic lettuce popcorn ham chicken fish ice_cream salad meat sauce curry stew pie
"""
DRINKS = "coffee tea milk juice water lemonade cocoa soup orange_juice apple_juice hot_chocolate".split()

PLACES = """
airport bakery bank beach bookshop bus_stop cafe castle cathedral church cinema clinic factory
farm garage gym harbour hospital hotel library market museum office palace park pharmacy
playground post_office restaurant school shop stadium station supermarket swimming_pool theatre
town_hall university zoo petrol_station train_station car_park city_centre village forest
aquarium art_gallery bowling_alley concert_hall court fire_station
football_pitch gallery ice_rink   leisure_centre marina police_station port prison
shopping_centre skate_park sports_centre temple tennis_court tower youth_club bridge
barber_shop bus_station canteen chapel coffee_shop dentist   fairground  
fish_market flower_shop garden_centre health_centre hostel laboratory lighthouse
motel   nightclub nursery opera_house pet_shop pier pond   pub   ranch
      stable studio subway toy_shop town_square vineyard warehouse
workshop
mountain lake river island hill field garden farm beach
"""

ROOMS = """
kitchen bathroom bedroom living_room hallway garage attic basement cellar garden dining_room
office classroom
"""

# Adjectives by what they can describe.
PERSON_ADJECTIVES = """
young old tall short kind friendly busy tired happy sad angry nervous brave clever quiet shy
polite patient famous rich poor lonely cheerful grumpy honest careful curious calm proud lucky
hungry sleepy thirsty excited worried bored funny strict gentle generous helpful lazy healthy
sick wise serious smart new local elderly talented confident nice
ambitious anxious bright calm careless cautious charming cheeky clumsy cruel fair fit gentle
glad grateful hopeful jealous jolly modest naughty noisy pleasant popular rude selfish sensible
silly stubborn sweet thoughtful tough weak wealthy retired handsome pretty
adventurous anxious awkward bossy busy chatty cool cranky creative eager elegant energetic
fearless fussy gloomy grumpy humble impatient innocent lovely loyal mean messy moody nosy
organised outgoing relaxed reliable respectful restless sporty stylish suspicious tidy trusty
unhappy upset warm wonderful worried
able active angry bald blind brilliant calm careless cheerful cute deaf dizzy dreadful famous
fat foolish friendly gorgeous guilty gifted hard_working hopeless injured jealous kind late
loud mature mighty miserable nasty neat odd pale perfect playful quick royal sensitive sharp
sincere slim slow sociable sorry stern strange stressed successful sunburnt thin ugly useful
"""
ANIMAL_ADJECTIVES = """
small big little tiny huge young old hungry sleepy friendly wild fat thin fluffy noisy lazy
playful shy brown black white grey spotted striped beautiful clever brave lost injured
cute gentle fierce tame hairy furry muddy wet clean hungry thirsty healthy sick tired loud
quiet dangerous harmless rare curious nervous proud happy
adorable angry bold calm chubby clumsy cuddly dozy fearless fit frightened fussy giant gorgeous
greedy grumpy handsome heavy lively lonely lovely naughty plump pretty scruffy silly skinny
sleek slim slow smelly speedy strong sweet tall tiny wild wise wriggly young
"""
THING_ADJECTIVES = """
old new red blue green yellow black white brown grey pink purple orange small big large little
heavy light broken wooden plastic metal shiny dusty clean dirty expensive cheap favourite spare
tiny huge round square empty full silver golden soft warm dry wet long short useful strange
beautiful ugly lovely simple fancy modern ancient rusty
antique bent blank bright broad cosy cracked curly damp dark delicate enormous fragile
checked chipped clumsy colourful comfortable cool crooked electric extra fake faded famous
fine flat flowery folding fluffy giant glittery handmade magic matching mouldy muddy padded
patterned portable powerful pretty quiet secret second_hand smooth solid spotted sturdy tall
tiny wide wonderful
frozen glass hollow leather loose narrow neat paper plain precious sharp shabby sticky stiff
strong striped thick thin tidy tight torn valuable velvet waterproof woollen
"""
FOOD_ADJECTIVES = """
fresh ripe sweet hot cold spicy warm homemade delicious salty crunchy tasty frozen sour juicy
bitter boiled creamy crispy dried fried greasy mashed mild organic roasted rotten smoked soggy
stale sugary tender toasted chewy cheap expensive huge tiny
baked buttery crumbly fancy fluffy golden healthy heavy icy lovely lumpy nutty overcooked
perfect plain rich raw sliced smooth sticky tangy tart tough yummy chilled local
green red yellow big small little soft hard burnt
"""
PLACE_ADJECTIVES = """
old new big small busy quiet crowded empty famous beautiful local little lovely modern ancient
noisy peaceful nearby tiny huge
brand new bright busy cheap clean cosy dark dirty expensive friendly grand historic lively
main narrow open popular pretty shabby smart spacious tidy ugly warm wonderful
airy bright charming chilly closed cold comfortable cramped damp dusty elegant fancy
freezing gloomy haunted hidden hot lonely messy rundown secret silent sunny posh tiny
"""
WEATHER_ADJECTIVES = "sunny rainy windy cold warm cloudy foggy snowy hot freezing stormy wet dry".split()

# Transitive verbs by the kind of object they take: "base", or "base:past" where the past tense
# is irregular or doubles its last consonant ("stop:stopped": so does "stopping").
TRANSITIVE_VERBS = {
    "things": """
borrow break:broke bring:brought buy:bought carry:carried check clean close collect cover deliver
drop:dropped examine fetch find:found fix fold forget:forgot grab:grabbed hang:hung hide:hid
hold:held keep:kept lend:lent lift lock lose:lost mend move open order pack paint pick polish
post pull push repair replace return sell:sold send:sent share sort steal:stole store throw:threw
touch unlock unpack use wash wrap:wrapped want need like love see:saw notice choose:chose
remember show:showed drag:dragged empty:emptied fill measure test
bend:bent burn:burnt charge cut:cut decorate design dig:dug   dust   hammer iron label
light:lit load paint photograph plug:plugged print rinse scratch   sharpen sketch squeeze
stack     tie twist weigh wipe
""",
    "food": """
bake boil buy:bought chop:chopped cook cut:cut eat:ate fry:fried grow:grew heat mix order pack
peel pick prepare serve share slice smell sell:sold taste wash weigh bring:brought carry:carried
finish freeze:froze want like love need choose:chose find:found drop:dropped
""",
    "animals": """
feed:fed catch:caught chase brush wash walk watch see:saw follow find:found rescue adopt photograph
draw:drew count hear:heard love like frighten feed:fed hug:hugged pat:patted spot:spotted
""",
    "people": """
call help meet:met visit invite thank ask phone email answer teach:taught warn
follow find:found hear:heard see:saw miss remember hug:hugged greet pay:paid hire join forgive:forgave
interview drive:drove wake:woke trust believe surprise interrupt
""",
}

# What food that is not counted can undergo ("she cooked some rice"), and drinks ("she poured some milk").
MASS_VERBS = """
buy:bought cook eat:ate heat make:made order serve share taste want need bring:brought finish
"""
DRINK_VERBS = """
buy:bought drink:drank heat make:made order pour serve share taste want need bring:brought spill:spilled finish
"""
# Verbs of state, never in the progressive ("she is needing" is not English).
STATIVE_VERBS = {"want", "need", "like", "love", "hate", "prefer", "see", "notice", "remember", "hear",
                 "believe", "trust", "know", "forget", "lose", "find", "recognise", "miss"}

PERSON_INTRANSITIVE = """
arrive laugh smile wait work sleep:slept sing:sang dance swim:swam run:ran walk cry:cried shout
whisper listen complain agree travel:travelled cough sneeze yawn relax rest hurry:hurried study:studied
cook read:read write:wrote win:won lose:lost stay leave:left fall:fell sit:sat stand:stood
jump climb knock nod:nodded wave
apologise argue blink blush bow breathe camp cheer clap:clapped frown giggle grin:grinned
hesitate hide:hid hop:hopped kneel:knelt limp pause pray queue retire scream shiver shrug:shrugged
sigh sneeze snore stare stumble sweat swear:swore tremble vanish volunteer whistle wink yell
"""
ANIMAL_INTRANSITIVE = """
sleep:slept run:ran jump swim:swam hide:hid play rest wait eat:ate climb sit:sat escape wander
disappear
"""

ADVERBS = """
quickly slowly quietly loudly carefully happily sadly angrily calmly gently suddenly finally
politely patiently proudly nervously safely softly silently early late again together alone
outside upstairs downstairs
"""
# Adverbs of manner that sit before a verb of action ("she carefully opened the box").
MANNER_ADVERBS = """
carefully quickly slowly quietly gently finally suddenly proudly nervously happily secretly
eagerly calmly bravely politely patiently quietly neatly kindly proudly rapidly boldly
cheerfully clumsily hastily lazily luckily accidentally immediately simply really almost
already just nearly never once quickly rarely recently soon still suddenly usually also
"""
FREQUENCY_ADVERBS = "usually often always never sometimes rarely".split()

FIRST_NAMES = """
adam alice amelia andrew anna arthur ben bella charlie chloe daniel david edward ella emily emma
ethan fiona frank george grace hannah harry helen henry isaac jack jacob james jane jessica john
joseph julia kate laura leo lily lucy luke maria mark martha mary max mia michael nancy nathan
noah oliver olivia oscar paul peter rachel robert rose ruby sam sarah simon sophie steven susan
thomas tom victoria william zoe albert carlos diana eric felix hugo irene karen nora patrick
rebecca sandra walter clara dennis eleanor gordon ivy kevin lionel monica neil pamela ralph
stella trevor vera brian carol dorothy edgar florence hazel ian joan kenneth lydia martin nigel
philip roger timothy alan angela barbara betty christopher donna elizabeth george jennifer linda
lisa matthew nicole richard sharon tony megan ryan justin amy jason kelly chris
aaron abigail adrian alex alexander alison amanda andy anne annie anthony ashley barry beth bill
bob bradley caroline catherine charlotte claire colin craig dan deborah derek diane edith emma
eve evan frances gary gemma graham gregory harriet heather holly howard jacqueline jake jenny
jeremy jim joe josh joy judith julian justin katie keith kim larry leah louise lucas marcus
maggie marion matt melanie molly natalie nick norman paula penny phoebe rachel ray rita
robin ron rosie roy russell sally scott sean sophia stanley stuart sue teresa terry tina
toby vanessa victor vincent wayne wendy
alfie archie bethany billy bonnie carl cathy cindy connor daisy dylan eddie elliot erin esther
evelyn finn freddie gavin gina gloria hannah heidi henry imogen isla jade jamie jasmine jeff
jill jordan josie kieran kyle leon liam lola lorna luna maddie mason maya miles milly mollie
nina owen patsy poppy quinn rory rosa rupert ruth seth sophia spencer tara tess theo todd tyler
abby ada albie alfred alison amber andrea angus anita april arnold audrey austin barney becky
bernard beverly blake bruce bryan caitlin calvin cameron carla carmen casey cecil celia cheryl
clive cora dale darren dean dolly doug duncan eileen elaine elsie ernest eva fay fergus flora
fred gemma geoff gilbert glen grant greg hattie hector holly hope ida iris ivan jack janet jean
jerry jess joan joel julie june kay keith kirsty lance laurel lee lenny lewis lois lorraine
luke mabel marcia marge mavis maxine milo mona morgan muriel ned neville nell nora olive otis
pat pearl percy phil polly rex rhoda rick rod rodney rosemary roxanne sadie sam sid stan tamsin
ted tessa tilly trudy val vernon violet wallace warren wilf winnie yvonne
"""
HE_NAMES = set("""
adam andrew arthur ben charlie daniel david edward ethan frank george harry henry isaac jack jacob
james john joseph leo luke mark max michael nathan noah oliver oscar paul peter robert sam simon
steven thomas tom william albert carlos eric felix hugo patrick walter dennis gordon kevin lionel
neil ralph trevor brian edgar ian kenneth martin nigel philip roger timothy alan christopher
matthew richard tony ryan justin jason chris
albie alfred angus arnold barney bernard blake bruce bryan calvin cameron cecil clive dale darren
dean doug duncan ernest fergus fred geoff gilbert glen grant greg hector ivan jerry joel keith lance
lenny lewis milo ned neville otis percy phil rex rick rod rodney sid stan ted vernon wallace
warren wilf
leon liam mason miles owen rory rupert seth spencer theo todd tyler will zac jamie
aaron adrian alex alexander andy anthony barry bill bob bradley colin craig dan derek evan gary
graham gregory howard jake jeremy jim joe josh julian keith larry lucas marcus matt nick norman
ray robin ron roy russell scott sean stanley stuart terry toby victor vincent wayne
""".split())

CITIES = """
london paris berlin madrid rome vienna dublin edinburgh glasgow manchester liverpool bristol
oxford cambridge boston chicago denver seattle houston dallas atlanta miami phoenix toronto
vancouver montreal sydney melbourne tokyo beijing shanghai delhi mumbai cairo nairobi lisbon
athens prague warsaw oslo stockholm amsterdam brussels geneva venice florence naples milan
barcelona moscow istanbul dubai singapore bangkok seoul mexico brazil canada australia japan
china india egypt kenya france germany spain italy portugal greece norway sweden ireland scotland
wales england poland austria switzerland belgium russia turkey argentina texas california florida
alaska hawaii ohio oregon nevada arizona africa europe asia america new_york los_angeles san_francisco
washington philadelphia detroit vienna budapest copenhagen helsinki iceland new_zealand
sheffield leeds birmingham newcastle cardiff belfast york brighton bath cornwall devon kent
yorkshire austin nashville memphis orlando baltimore pittsburgh cleveland minneapolis
chicago portland sacramento hamburg munich frankfurt lyon marseille nice bordeaux valencia
seville porto krakow zurich salzburg kyoto osaka hong_kong taipei manila jakarta hanoi
perth brisbane adelaide auckland wellington cape_town johannesburg lagos morocco peru chile
colombia cuba jamaica nepal vietnam thailand indonesia malaysia korea finland denmark hungary
ankara beirut bogota boise buffalo calgary canberra caracas chennai dakar dallas darwin
derby dover dundee exeter florence galway geneva hobart inverness jersey kolkata la_paz leeds
leicester lima madras malta milwaukee monaco montana nantes norwich nottingham ottawa oxford
plymouth quebec reading rio santiago seville shanghai southampton stockport swansea sydney
tampa tucson utah vermont winnipeg york kansas iowa idaho maine georgia virginia
"""

EVENTS = """
meeting concert lesson film party game match class train bus flight show lecture interview
wedding picnic dinner rehearsal appointment exam
"""
OCCASIONS = """
birthday wedding holiday trip picnic party kitchen garden office new_house camping_trip school_project
"""

SPORTS = """
tennis football golf chess cricket basketball baseball hockey rugby volleyball badminton squash
netball snooker darts cards
"""
INSTRUMENTS = "piano guitar violin drums flute trumpet cello harp clarinet saxophone trombone recorder banjo".split()
SCHOOL_SUBJECTS = """
history maths science art music geography french spanish german biology chemistry physics
english law medicine economics drama engineering
"""
BODY_PARTS = "ankle knee wrist back shoulder elbow thumb finger toe neck foot hand arm leg head nose".split()
TRANSPORT = "bus train tram ferry taxi plane boat underground coach".split()

DAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
MONTHS = "january february march april may june july august september october november december".split()
SEASONS = "spring summer autumn winter".split()
MEALS = "breakfast lunch dinner".split()
PREPOSITIONS_OF_PLACE = ["near", "behind", "next to", "in front of", "opposite", "outside", "inside"]
PREPOSITIONS_OF_RESTING = ["on", "under", "behind", "next to", "near", "in front of", "beside"]

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


def clock_time_to_words(hour: int, minute: int) -> str:
    """Only the clock times that read the same however they are written once normalized:
    (7, 0) -> "seven o'clock", (7, 30) -> 'half past seven', (7, 15) / (7, 45) -> 'a quarter past
    seven' / 'a quarter to eight'. ("seven forty" normalizes to 740, "7:40" to "7 40".)"""
    if minute == 0:
        return number_to_words(hour) + " o'clock"
    if minute == 15:
        return "a quarter past " + number_to_words(hour)
    if minute == 30:
        return "half past " + number_to_words(hour)
    if minute == 45:
        return "a quarter to " + number_to_words(hour % 12 + 1)
    raise ValueError(f"clock_time_to_words: minute {minute} is not allowed; allowed 0, 15, 30, 45")


def small_count(rng: random.Random) -> int:
    """How many of a thing people usually count: mostly 2-12, sometimes a round larger number."""
    if rng.random() < 0.8:
        return rng.randint(2, 12)
    return rng.choice([15, 20, 25, 30, 40, 50, 60, 100, 200, 500])


# --- inflection ---


def _parse_pairs(words: str) -> dict[str, str | None]:
    """'child:children dog' -> {'child': 'children', 'dog': None} (None: the regular form).
    Underscores join the words of one entry: 'bus_stop' -> 'bus stop'."""
    pairs: dict[str, str | None] = {}
    for token in words.split():
        base, _, special = token.partition(":")
        pairs.setdefault(base.replace("_", " "), special or None)
    return pairs


def _word_list(words: str) -> list[str]:
    return sorted({w.replace("_", " ") for w in words.split()})


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


def present_participle(verb: str, irregular_past: str | None = None) -> str:
    """'make' -> 'making', 'stop' (past 'stopped') -> 'stopping', 'lie' -> 'lying'."""
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    if irregular_past == verb + verb[-1] + "ed" or verb in ("swim", "run", "win", "sit", "dig", "put", "cut", "begin"):
        return verb + verb[-1] + "ing"  # the past tense doubles the consonant, so does this
    return verb + "ing"


def with_indefinite_article(phrase: str) -> str:
    return ("an " if _starts_with_vowel_sound(phrase) else "a ") + phrase


def _starts_with_vowel_sound(word: str) -> bool:
    if word.startswith(("uni", "use", "usu", "eu", "one", "ewe")):
        return False
    if word.startswith(("hour", "honest", "honour", "heir")):
        return True
    return word[0] in VOWELS


# --- who speaks of whom ---


POSSESSIVES = {"i": "my", "you": "your", "he": "his", "she": "her", "we": "our", "they": "their", "it": "its"}


@dataclass(frozen=True)
class Subject:
    """A sentence's subject and what agrees with it."""

    text: str
    person: str  # "i", "you", "he", "she", "we", "they", "it": decides the verb forms

    @property
    def third_singular(self) -> bool:
        return self.person in ("he", "she", "it")

    @property
    def possessive(self) -> str:
        return POSSESSIVES[self.person]

    def present(self, verb: str) -> str:
        return third_person(verb) if self.third_singular else verb

    def be_present(self) -> str:
        return "am" if self.person == "i" else "is" if self.third_singular else "are"

    def be_past(self) -> str:
        return "was" if self.person == "i" or self.third_singular else "were"


PRONOUNS = [Subject("i", "i"), Subject("you", "you"), Subject("he", "he"), Subject("she", "she"),
            Subject("we", "we"), Subject("they", "they")]


class Lexicon:
    """The word lists parsed once, and the phrases built from them."""

    def __init__(self):
        self.jobs = _parse_pairs(JOBS)
        self.people = _parse_pairs(PEOPLE)
        self.relatives = _parse_pairs(RELATIVES)
        self.animals = _parse_pairs(ANIMALS)
        self.things = _parse_pairs(THINGS)
        self.countable_food = _parse_pairs(COUNTABLE_FOOD)
        self.mass_food = _word_list(MASS_FOOD)
        self.drinks = _word_list(" ".join(DRINKS))
        self.places = _word_list(PLACES)
        self.rooms = _word_list(ROOMS)
        self.furniture = _word_list(FURNITURE)
        self.adjectives = {"person": _word_list(PERSON_ADJECTIVES), "animal": _word_list(ANIMAL_ADJECTIVES),
                           "thing": _word_list(THING_ADJECTIVES), "food": _word_list(FOOD_ADJECTIVES),
                           "place": _word_list(PLACE_ADJECTIVES)}
        self.verbs_for = {kind: _parse_pairs(words) for kind, words in TRANSITIVE_VERBS.items()}
        self.mass_verbs = _parse_pairs(MASS_VERBS)
        self.drink_verbs = _parse_pairs(DRINK_VERBS)
        self.person_intransitive = _parse_pairs(PERSON_INTRANSITIVE)
        self.animal_intransitive = _parse_pairs(ANIMAL_INTRANSITIVE)
        self.adverbs = _word_list(ADVERBS)
        self.manner_adverbs = _word_list(MANNER_ADVERBS)
        self.names = _word_list(FIRST_NAMES)
        self.cities = _word_list(CITIES)
        self.events = _word_list(EVENTS)
        self.occasions = _word_list(OCCASIONS)
        self._irregular = self._tables()
        self._keys = {name: sorted(table) for name, table in self._irregular.items()}

    def _tables(self) -> dict[str, dict[str, str | None]]:
        tables = {"jobs": self.jobs, "people": self.people, "relatives": self.relatives, "animals": self.animals,
                  "things": self.things, "food": self.countable_food, "mass verbs": self.mass_verbs,
                  "drink verbs": self.drink_verbs, "person intransitive": self.person_intransitive,
                  "animal intransitive": self.animal_intransitive}
        tables.update({f"{kind} verbs": table for kind, table in self.verbs_for.items()})
        return tables

    def pick(self, table: str, rng: random.Random) -> tuple[str, str | None]:
        """A word of a table and its irregular form (None when regular)."""
        word = rng.choice(self._keys[table])
        return word, self._irregular[table][word]

    def words(self) -> set[str]:
        """Every word form the generator can emit from the lexicon (frames and numbers aside)."""
        plain_lists = (self.mass_food, self.drinks, self.places, self.rooms, self.furniture, self.adverbs,
                       self.manner_adverbs, self.names, self.cities, self.events, self.occasions, SPORTS.split(),
                       INSTRUMENTS, SCHOOL_SUBJECTS.split(), BODY_PARTS, TRANSPORT, *self.adjectives.values())
        forms: set[str] = {word for words in plain_lists for word in words}
        for table in (self.jobs, self.people, self.relatives, self.animals, self.things, self.countable_food):
            forms |= {form for noun, irregular in table.items() for form in (noun, plural(noun, irregular))}
        for table in (*self.verbs_for.values(), self.mass_verbs, self.drink_verbs, self.person_intransitive,
                      self.animal_intransitive):
            for verb, irregular in table.items():
                forms |= {verb, past_tense(verb, irregular), third_person(verb), present_participle(verb, irregular)}
        return {w for form in forms for w in form.split()}

    # --- noun phrases ---

    def counted(self, table: str, adjective_kind: str, rng: random.Random, determiner: str | None = None,
                plural_probability: float = 0.4) -> tuple[str, bool]:
        """A noun phrase of a countable noun ('a ripe pear', 'her old boots', 'three kittens') and
        whether it is plural."""
        noun, irregular = self.pick(table, rng)
        if rng.random() < 0.5:
            noun = f"{rng.choice(self.adjectives[adjective_kind])} {noun}"
        pointing = table not in ("jobs", "people")  # "this dog", but not "this nurse"
        if rng.random() < plural_probability:
            noun = plural_phrase(noun, irregular)
            if determiner is None:
                determiner = rng.choice(["the", "the", "some", "my", "your", "our", "their", "his", "her",
                                         *(["these", "those"] if pointing else []), number_to_words(small_count(rng))])
            determiner = {"a": "some", "this": "these", "that": "those"}.get(determiner, determiner)
            return f"{determiner} {noun}", True
        if determiner is None:
            determiner = rng.choice(["a", "a", "the", "the", "my", "your", "our", "his", "her",
                                     *(["this", "that"] if pointing else [])])
        return (with_indefinite_article(noun) if determiner == "a" else f"{determiner} {noun}"), False

    def mass(self, rng: random.Random, drink: bool = False) -> str:
        food = rng.choice(self.drinks if drink else self.mass_food)
        if rng.random() < 0.3:
            adjective = rng.choice(["hot", "cold", "fresh", "warm", "sweet"] if drink else self.adjectives["food"])
            food = f"{adjective} {food}"
        return f"{rng.choice(['some', 'some', 'the', 'more', 'a little', 'our', 'my'])} {food}"

    def person_phrase(self, rng: random.Random) -> tuple[str, bool]:
        """Someone else: a name, a relative, a job or a person ('the new doctor', 'my aunt')."""
        draw = rng.random()
        if draw < 0.35:
            return rng.choice(self.names), False
        if draw < 0.6:
            relative, irregular = self.pick("relatives", rng)
            if rng.random() < 0.15:
                return f"{rng.choice(['my', 'our', 'your', 'their'])} {plural_phrase(relative, irregular)}", True
            return f"{rng.choice(['my', 'my', 'your', 'his', 'her', 'our', 'their'])} {relative}", False
        return self.counted(rng.choice(["jobs", "jobs", "people"]), "person", rng, plural_probability=0.2)

    def subject(self, rng: random.Random, pronoun_probability: float = 0.25) -> Subject:
        if rng.random() < pronoun_probability:
            return rng.choice(PRONOUNS)
        text, is_plural = self.person_phrase(rng)
        if is_plural:
            return Subject(text, "they")
        if text in self.names:
            return Subject(text, "he" if text in HE_NAMES else "she")
        return Subject(text, rng.choice(["he", "she"]))

    def animal_subject(self, rng: random.Random) -> Subject:
        text, is_plural = self.counted("animals", "animal", rng, plural_probability=0.3)
        return Subject(text, "they" if is_plural else "it")

    def verb_and_object(self, rng: random.Random, action: bool = False) -> tuple[str, str | None, str]:
        """A transitive verb (base form, irregular past or None) and an object it fits; `action`:
        not a verb of state (for the progressive)."""
        kind = rng.choices(["things", "food", "mass", "drinks", "animals", "people"], weights=[6, 2, 1, 1, 2, 3])[0]
        table = {"mass": "mass verbs", "drinks": "drink verbs"}.get(kind, f"{kind} verbs")
        verb, irregular = self.pick(table, rng)
        while action and verb in STATIVE_VERBS:
            verb, irregular = self.pick(table, rng)
        if kind in ("mass", "drinks"):
            return verb, irregular, self.mass(rng, drink=kind == "drinks")
        if kind == "people":
            return verb, irregular, self.person_phrase(rng)[0]
        adjective_kind = {"things": "thing", "food": "food", "animals": "animal"}[kind]
        return verb, irregular, self.counted(kind, adjective_kind, rng)[0]

    def place(self, rng: random.Random) -> str:
        """A place to be at: 'at the busy market', 'in the kitchen', 'in madrid'."""
        draw = rng.random()
        if draw < 0.3:
            return f"in {rng.choice(self.cities)}"
        if draw < 0.55:
            return f"in the {rng.choice(self.rooms)}"
        place = rng.choice(self.places)
        if rng.random() < 0.4:
            place = f"{rng.choice(self.adjectives['place'])} {place}"
        return f"{rng.choice(['at the', 'at the', 'near the', 'outside the', 'behind the'])} {place}"

    def past_time(self, rng: random.Random) -> str:
        kind = rng.randrange(6)
        if kind == 0:
            return f"at {self.clock_time(rng)}"
        if kind == 1:
            return f"on {rng.choice(DAYS)} {rng.choice(['morning', 'afternoon', 'evening', 'night'])}"
        if kind == 2:
            return f"on the {ordinal_to_words(rng.randint(1, 31))} of {rng.choice(MONTHS)}"
        if kind == 3:
            return f"in {rng.choice([rng.choice(MONTHS), year_to_words(rng.randint(1950, 2024))])}"
        if kind == 4:
            return f"{number_to_words(rng.randint(2, 12))} {rng.choice(['days', 'weeks', 'months', 'years'])} ago"
        return rng.choice(["yesterday", "last night", "this morning", "last week", "last summer", "after lunch",
                           "before dinner", "last weekend", "on saturday", "last year", "an hour ago"])

    def future_time(self, rng: random.Random) -> str:
        kind = rng.randrange(4)
        if kind == 0:
            return f"at {self.clock_time(rng)}"
        if kind == 1:
            return f"on {rng.choice(DAYS)}"
        if kind == 2:
            return f"next {rng.choice(['week', 'month', 'year', 'weekend', *SEASONS, *DAYS])}"
        return rng.choice(["tomorrow", "tonight", "after lunch", "before dinner", "later today", "this evening",
                           "tomorrow morning", "in the morning", "at the weekend", "soon"])

    @staticmethod
    def clock_time(rng: random.Random) -> str:
        return clock_time_to_words(rng.randint(1, 12), rng.choice([0, 0, 15, 30, 30, 45]))


def plural_phrase(phrase: str, irregular: str | None) -> str:
    """Pluralize the last word of 'ripe pear' -> 'ripe pears' (the irregular plural of the noun)."""
    *adjectives, noun = phrase.split(" ")
    return " ".join(adjectives + [plural(noun, irregular)])


# --- sentence frames: each returns a sentence without its final punctuation, and that punctuation ---


def _past_action(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject = lex.subject(rng)
    verb, irregular, obj = lex.verb_and_object(rng)
    parts = [subject.text, past_tense(verb, irregular), obj]
    if rng.random() < 0.2:
        parts.insert(1, rng.choice(lex.manner_adverbs))
    if rng.random() < 0.5:
        parts.append(lex.place(rng))
    if rng.random() < 0.5:
        parts.append(lex.past_time(rng))
    return " ".join(parts), "."


def _habit(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject = lex.subject(rng)
    verb, _, obj = lex.verb_and_object(rng)
    frequency = rng.choice(FREQUENCY_ADVERBS)
    when = rng.choice(["", "", "on " + plural(rng.choice(DAYS)), "every " + rng.choice(["morning", "evening", "week", "day"]),
                       "at the weekend", "after school", "after work", "before " + rng.choice(MEALS)])
    parts = [subject.text, frequency, subject.present(verb), obj, when or lex.place(rng)]
    return " ".join(parts), "."


def _in_progress(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject = lex.subject(rng)
    verb, irregular, obj = lex.verb_and_object(rng, action=True)
    be = subject.be_present() if rng.random() < 0.6 else subject.be_past()
    parts = [subject.text, be, present_participle(verb, irregular), obj]
    if rng.random() < 0.6:
        parts.append(lex.place(rng))
    return " ".join(parts), "."


def _plan(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject = lex.subject(rng)
    verb, _, obj = lex.verb_and_object(rng)
    modal = rng.choice(["will", "might", "should", "can", "could", "must",
                        f"{subject.be_present()} going to", f"{subject.present('want')} to",
                        f"{subject.present('need')} to", f"{subject.present('have')} to"])
    return " ".join([subject.text, modal, verb, obj, lex.future_time(rng)]), "."


def _yes_no_question(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject = lex.subject(rng)
    verb, irregular, obj = lex.verb_and_object(rng, action=True)
    kind = rng.randrange(3)
    if kind == 0:
        parts = ["did", subject.text, verb, obj, lex.past_time(rng) if rng.random() < 0.5 else ""]
    elif kind == 1:
        parts = [rng.choice(["can", "will", "could", "should"]), subject.text, verb, obj,
                 lex.future_time(rng) if rng.random() < 0.5 else ""]
    else:
        parts = [subject.be_present(), subject.text, present_participle(verb, irregular), obj,
                 lex.place(rng) if rng.random() < 0.5 else ""]
    return " ".join(p for p in parts if p), "?"


def _wh_question(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject = lex.subject(rng)
    verb, irregular, obj = lex.verb_and_object(rng, action=True)
    kind = rng.randrange(4)
    if kind == 0:
        return f"{rng.choice(['why', 'when', 'where', 'how'])} did {subject.text} {verb} {obj}", "?"
    if kind == 1:
        return f"why {subject.be_present()} {subject.text} {present_participle(verb, irregular)} {obj}", "?"
    if kind == 2:
        return f"who {past_tense(verb, irregular)} {obj} {lex.past_time(rng)}", "?"
    thing, _ = lex.pick("things verbs", rng)
    return f"what did {subject.text} {thing} {lex.place(rng)}", "?"


def _how_many(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject = lex.subject(rng)
    if rng.random() < 0.3:
        drink = rng.random() < 0.4
        verb, _ = lex.pick("drink verbs" if drink else "mass verbs", rng)
        return f"how much {rng.choice(lex.drinks if drink else lex.mass_food)} did {subject.text} {verb}", "?"
    kind = rng.choice(["things", "food", "animals"])
    noun, irregular = lex.pick(kind, rng)
    verb, _ = lex.pick(f"{kind} verbs", rng)
    return f"how many {plural(noun, irregular)} did {subject.text} {verb} {lex.place(rng)}", "?"


def _counting(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject = lex.subject(rng)
    kind = rng.choice(["things", "food", "animals"])
    verb, irregular = lex.pick(f"{kind} verbs", rng)
    adjective_kind = {"things": "thing", "food": "food", "animals": "animal"}[kind]
    obj, _ = lex.counted(kind, adjective_kind, rng, determiner=number_to_words(small_count(rng)), plural_probability=1.0)
    return f"{subject.text} {past_tense(verb, irregular)} {obj} {lex.past_time(rng)}", "."


def _having(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject = lex.subject(rng)
    first, _ = lex.counted("animals", "animal", rng, determiner=number_to_words(rng.randint(2, 6)), plural_probability=1.0)
    second, _ = lex.counted("animals", "animal", rng, determiner=rng.choice(["a", "one"]), plural_probability=0.0)
    verb = subject.present("have") if rng.random() < 0.6 else "had"
    return f"{subject.text} {verb} {first} and {second}", "."


def _description(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(["things", "food", "animals", "place"])
    if kind == "place":
        noun, is_plural = f"the {rng.choice(lex.places)}", False
        adjective_kind = "place"
    else:
        adjective_kind = {"things": "thing", "food": "food", "animals": "animal"}[kind]
        noun, is_plural = lex.counted(kind, adjective_kind, rng, determiner=rng.choice(["the", "my", "this", "your"]))
    be = rng.choice(["are", "were"] if is_plural else ["is", "was"])
    first, second = rng.sample(lex.adjectives[adjective_kind], 2)
    tail = (f"{first} and {second}" if rng.random() < 0.4
            else f"{rng.choice(['very', 'quite', 'really', 'too', 'not', 'so', 'a bit'])} {first}")
    return f"{noun} {be} {tail}", rng.choice([".", ".", "!"])


def _where_it_is(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    thing, is_plural = lex.counted("things", "thing", rng, determiner=rng.choice(["the", "my", "your", "her", "his", "our"]))
    be = rng.choice(["are", "were"] if is_plural else ["is", "was"])
    spot = f"{rng.choice(PREPOSITIONS_OF_RESTING)} the {rng.choice(lex.furniture)}"
    if rng.random() < 0.5:
        spot += f" in the {rng.choice(lex.rooms)}"
    if rng.random() < 0.2:
        return f"why {be} {thing} {spot}", "?"
    return f"{thing} {be} {spot}", "."


def _animal_doing(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject = lex.animal_subject(rng)
    verb, irregular = lex.pick("animal intransitive", rng)
    if rng.random() < 0.4:
        parts = [subject.text, subject.be_present() if rng.random() < 0.5 else subject.be_past(),
                 present_participle(verb, irregular)]
    else:
        parts = [subject.text, past_tense(verb, irregular)]
    parts.append(rng.choice([f"{rng.choice(PREPOSITIONS_OF_PLACE + ['under', 'behind'])} the {rng.choice(lex.furniture + lex.places)}",
                             f"in the {rng.choice(lex.rooms)}", lex.place(rng)]))
    if rng.random() < 0.3:
        parts.append(lex.past_time(rng))
    return " ".join(parts), "."


def _person_doing(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject = lex.subject(rng)
    verb, irregular = lex.pick("person intransitive", rng)
    parts = [subject.text, past_tense(verb, irregular)]
    if rng.random() < 0.4:
        parts.append(rng.choice(lex.adverbs))
    if rng.random() < 0.5:
        parts.append(lex.place(rng))
    parts.append(lex.past_time(rng))
    return " ".join(parts), "."


def _travel(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject = lex.subject(rng)
    city = rng.choice(lex.cities)
    kind = rng.randrange(3)
    if kind == 0:
        went = rng.choice(["went", "flew", "drove", "travelled", "moved", "came back", "went back", "took the train"])
        company = f" with {subject.possessive} {lex.pick('relatives', rng)[0]}" if rng.random() < 0.3 else ""
        return f"{subject.text} {went} to {city}{company} {lex.past_time(rng)}", "."
    if kind == 1:
        going = rng.choice(["will fly", f"{subject.be_present()} going", f"{subject.present('want')} to go",
                            "might move", "will travel"])
        return f"{subject.text} {going} to {city} {lex.future_time(rng)}", "."
    relative, _ = lex.pick("relatives", rng)
    return f"{subject.text} {subject.present('live')} in {city} with {subject.possessive} {relative}", "."


def _work(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject = lex.subject(rng, pronoun_probability=0.2)
    job = with_indefinite_article(lex.pick("jobs", rng)[0])
    where = rng.choice([f"in {rng.choice(lex.cities)}", f"at the {rng.choice(lex.places)}", ""])
    if subject.person in ("i", "he", "she") and rng.random() < 0.5:  # one person is "a nurse"
        be = subject.be_present() if rng.random() < 0.6 else subject.be_past()
        return f"{subject.text} {be} {job} {where}", "."
    return f"{subject.text} {subject.present('work')} as {job} {where}", "."


def _request(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    verb, _, obj = lex.verb_and_object(rng)
    opener = rng.choice(["please", "could you", "would you", "can you", "let us", "remember to", "do not forget to"])
    parts = [opener, verb, obj]
    if rng.random() < 0.5:
        parts.append(rng.choice([lex.place(rng), lex.future_time(rng), "before " + rng.choice(MEALS)]))
    return " ".join(parts), "?" if opener in ("could you", "would you", "can you") else "."


def _wish(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject = lex.subject(rng)
    verb = rng.choice([subject.present("want"), subject.present("need"), "would like", "bought", "found", "made"])
    kind = rng.choice(["things", "things", "food"])
    obj, _ = lex.counted(kind, "thing" if kind == "things" else "food", rng, determiner="a", plural_probability=0.0)
    occasion = rng.choice(lex.occasions)
    return f"{subject.text} {verb} {obj} for {subject.possessive} {occasion}", "."


def _said_that(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    speaker = lex.subject(rng)
    told = "told them" if speaker.person in ("i", "we") else "told me"
    verb = rng.choice(["said", told, "heard", "forgot", "remembered", speaker.present("think"), speaker.present("know")])
    clause, punctuation = rng.choice([_past_action, _person_doing, _description, _where_it_is])(lex, rng)
    while punctuation == "?":  # a statement only
        clause, punctuation = _where_it_is(lex, rng)
    return f"{speaker.text} {verb} that {clause}", "."


def _weather(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    city, weather = rng.choice(lex.cities), rng.choice(WEATHER_ADJECTIVES)
    kind = rng.randrange(3)
    if kind == 0:
        return f"it was {weather} in {city} {lex.past_time(rng)}", "."
    if kind == 1:
        return f"it will be {weather} in {city} {lex.future_time(rng)}", "."
    return f"the weather in {city} is usually {weather} in {rng.choice(SEASONS + MONTHS)}", "."


def _schedule(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    event = rng.choice(lex.events)
    when = f"at {lex.clock_time(rng)}"
    verb = rng.choice(["starts", "started", "will start", "finishes", "finished", "begins", "ends"])
    if rng.random() < 0.5:
        when += f" on {rng.choice(DAYS)}"
    return f"the {event} {verb} {when}", "."


def _price(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    thing, is_plural = lex.counted(rng.choice(["things", "food"]), "thing", rng, determiner="the")
    amount = number_to_words(rng.choice([2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 200]))
    if rng.random() < 0.5:
        return f"{thing} cost {amount} {rng.choice(['dollars', 'pounds'])}", "."
    subject = lex.subject(rng)
    return f"{subject.text} paid {amount} {rng.choice(['dollars', 'pounds'])} for {thing}", "."


def _dates(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject = lex.subject(rng)
    kind = rng.randrange(3)
    if kind == 0:
        return f"{subject.possessive} birthday is on the {ordinal_to_words(rng.randint(1, 31))} of {rng.choice(MONTHS)}", "."
    if kind == 1:
        return f"{subject.text} {subject.be_past()} born in {rng.choice(lex.cities)} in {year_to_words(rng.randint(1940, 2020))}", "."
    event = rng.choice(["started school", "left home", "got married", "bought a house", "learned to drive",
                        "moved to " + rng.choice(lex.cities), "built this house", "opened the shop"])
    return f"{subject.text} {event} in {year_to_words(rng.randint(1950, 2024))}", "."


def _likes(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject = lex.subject(rng)
    kind = rng.choice(["animals", "food", "things"])
    noun, irregular = lex.pick(kind, rng)
    verb = subject.present(rng.choice(["like", "love", "hate", "prefer", "collect" if kind == "things" else "like"]))
    text = f"{subject.text} {verb} {plural(noun, irregular)}"
    if rng.random() < 0.4:
        adjective_kind = {"things": "thing", "food": "food", "animals": "animal"}[kind]
        text += f" because they are {rng.choice(lex.adjectives[adjective_kind])}"
    return text, "."


def _list_of_things(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    """'we bought some bread, three ripe pears and a kettle at the market': a list, content-rich."""
    subject = lex.subject(rng)
    verb = rng.choice(["bought", "found", "packed", "forgot", "sold", "ordered", "needed", "brought", "lost", "wanted"])
    items = [_list_item(lex, rng) for _ in range(rng.choice([2, 2, 3]))]
    listed = ", ".join(items[:-1]) + " and " + items[-1]
    where = rng.choice([lex.place(rng), lex.past_time(rng), ""])
    return f"{subject.text} {verb} {listed} {where}", "."


def _list_item(lex: Lexicon, rng: random.Random) -> str:
    if rng.random() < 0.25:
        return lex.mass(rng)
    kind = rng.choice(["things", "food"])
    adjective_kind = "thing" if kind == "things" else "food"
    if rng.random() < 0.5:
        return lex.counted(kind, adjective_kind, rng, determiner="a", plural_probability=0.0)[0]
    determiner = rng.choice(["some", number_to_words(small_count(rng))])
    return lex.counted(kind, adjective_kind, rng, determiner=determiner, plural_probability=1.0)[0]


def _pastime(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject = lex.subject(rng)
    kind = rng.randrange(3)
    if kind == 0:
        activity = f"{subject.present('play')} {rng.choice(SPORTS.split())}"
    elif kind == 1:
        activity = f"{rng.choice([subject.present('play'), subject.present('practise'), 'learned to play'])} the {rng.choice(INSTRUMENTS)}"
    else:
        activity = f"{rng.choice([subject.present('study'), subject.present('teach'), 'studied', 'taught'])} {rng.choice(SCHOOL_SUBJECTS.split())}"
    when = rng.choice(["", "every " + rng.choice(["day", "week", "morning", "evening"]), "on " + plural(rng.choice(DAYS)),
                       "at " + rng.choice(["school", "university", "home", "the weekend"]), "with " + subject.possessive + " "
                       + lex.pick("relatives", rng)[0]])
    return f"{subject.text} {activity} {when}", "."


def _mishap(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject = lex.subject(rng)
    kind = rng.randrange(3)
    if kind == 0:
        doing = rng.choice([f"playing {rng.choice(SPORTS.split())}", "in the garden", "on the stairs", lex.place(rng)])
        return f"{subject.text} hurt {subject.possessive} {rng.choice(BODY_PARTS)} {doing} {lex.past_time(rng)}", "."
    if kind == 1:
        return f"{subject.text} missed the {rng.choice(TRANSPORT)} {lex.past_time(rng)}", "."
    return (f"{subject.text} took the {rng.choice(TRANSPORT)} to the {rng.choice(lex.places)}"
            f" {rng.choice([lex.past_time(rng), 'every day', ''])}"), "."


def _feeling(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    subject = lex.subject(rng)
    feeling = rng.choice(lex.adjectives["person"])
    reason, _ = rng.choice([_past_action, _mishap, _person_doing])(lex, rng)
    return f"{subject.text} {subject.be_past()} {feeling} because {reason}", "."


def _compound(lex: Lexicon, rng: random.Random) -> tuple[str, str]:
    first, _ = rng.choice([_past_action, _person_doing, _travel])(lex, rng)
    second, _ = rng.choice([_person_doing, _animal_doing, _past_action])(lex, rng)
    return f"{first} {rng.choice(['and', 'but', 'so', 'because', 'while', 'and then'])} {second}", "."


FRAMES = [
    (_past_action, 6), (_habit, 3), (_in_progress, 3), (_plan, 3), (_yes_no_question, 2), (_wh_question, 2),
    (_how_many, 1), (_counting, 1), (_having, 1), (_description, 2), (_where_it_is, 2), (_animal_doing, 2),
    (_person_doing, 2), (_travel, 2), (_work, 1), (_request, 2), (_wish, 1), (_said_that, 1), (_weather, 1),
    (_schedule, 1), (_price, 1), (_dates, 1), (_likes, 1), (_list_of_things, 2), (_pastime, 1), (_mishap, 1),
    (_feeling, 1), (_compound, 1),
]
def words_of(text: str) -> list[str]:
    """The words of a transcript, lower case, without punctuation (apostrophes kept)."""
    return re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())
