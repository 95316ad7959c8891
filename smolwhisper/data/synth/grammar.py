"""English grammar the everyday sentences need: the closed-class words the frames speak, and the
irregular verbs (base -> past, past participle)."""

from __future__ import annotations

# Words the sentence frames say themselves (pronouns, determiners, prepositions, conjunctions,
# auxiliaries, modals, wh-words, numbers and the small adverbs that hold a sentence together); the
# lexicon leaves them out so that no slot puts "of" where a noun belongs.
FUNCTION_WORDS = frozenset("""
a an the this that these those my your his her its our their mine yours hers ours theirs
i me you he him she it we us they them myself yourself himself herself itself ourselves themselves
who whom whose which what where when why how whatever whoever whenever wherever however
and or but nor so yet because although though while if unless until since than as whether
of to in on at by for from with about into onto over under above below between among through
during before after around against without within along across behind beyond near toward towards
upon off out up down like unlike per via past except
be am is are was were been being have has had having do does did done doing
will would shall should can could may might must ought
not no yes never ever always often sometimes usually rarely
very too also just only even still already again almost quite rather really perhaps maybe
here there now then today tonight tomorrow yesterday soon later ago else
all any some every each both either neither none several many much more most less least few fewer
other another such same own enough
one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand
million first second third
something anything nothing everything someone anyone everyone somebody anybody nobody everybody
somewhere anywhere everywhere nowhere
please thanks okay ok oh well
""".split())

IRREGULAR_VERBS = {
    verb: (past, participle) for verb, past, participle in (line.split() for line in """
arise arose arisen
awake awoke awoken
bear bore born
beat beat beaten
become became become
begin began begun
bend bent bent
bet bet bet
bid bid bid
bind bound bound
bite bit bitten
bleed bled bled
blow blew blown
break broke broken
breed bred bred
bring brought brought
broadcast broadcast broadcast
build built built
burn burnt burnt
burst burst burst
buy bought bought
cast cast cast
catch caught caught
choose chose chosen
cling clung clung
come came come
cost cost cost
creep crept crept
cut cut cut
deal dealt dealt
dig dug dug
dive dived dived
draw drew drawn
dream dreamt dreamt
drink drank drunk
drive drove driven
eat ate eaten
fall fell fallen
feed fed fed
feel felt felt
fight fought fought
find found found
flee fled fled
fling flung flung
fly flew flown
forbid forbade forbidden
forecast forecast forecast
forget forgot forgotten
forgive forgave forgiven
freeze froze frozen
get got got
give gave given
go went gone
grind ground ground
grow grew grown
hang hung hung
hear heard heard
hide hid hidden
hit hit hit
hold held held
hurt hurt hurt
keep kept kept
kneel knelt knelt
know knew known
lay laid laid
lead led led
lean leaned leaned
leap leapt leapt
learn learned learned
leave left left
lend lent lent
let let let
lie lay lain
light lit lit
lose lost lost
make made made
mean meant meant
meet met met
mislead misled misled
mistake mistook mistaken
overcome overcame overcome
overtake overtook overtaken
pay paid paid
prove proved proven
put put put
quit quit quit
read read read
rid rid rid
ride rode ridden
ring rang rung
rise rose risen
run ran run
say said said
see saw seen
seek sought sought
sell sold sold
send sent sent
set set set
sew sewed sewn
shake shook shaken
shed shed shed
shine shone shone
shoot shot shot
show showed shown
shrink shrank shrunk
shut shut shut
sing sang sung
sink sank sunk
sit sat sat
sleep slept slept
slide slid slid
sling slung slung
speak spoke spoken
speed sped sped
spend spent spent
spin spun spun
spit spat spat
split split split
spread spread spread
spring sprang sprung
stand stood stood
steal stole stolen
stick stuck stuck
sting stung stung
stink stank stunk
strike struck struck
string strung strung
strive strove striven
swear swore sworn
sweep swept swept
swell swelled swollen
swim swam swum
swing swung swung
take took taken
teach taught taught
tear tore torn
tell told told
think thought thought
throw threw thrown
thrust thrust thrust
tread trod trodden
understand understood understood
undertake undertook undertaken
undo undid undone
upset upset upset
wake woke woken
wear wore worn
weave wove woven
weep wept wept
win won won
wind wound wound
withdraw withdrew withdrawn
write wrote written
overlook overlooked overlooked
rebuild rebuilt rebuilt
retell retold retold
rewrite rewrote rewritten
outgrow outgrew outgrown
undergo underwent undergone
withstand withstood withstood
uphold upheld upheld
foresee foresaw foreseen
oversee oversaw overseen
override overrode overridden
""".strip().splitlines())
}

# Words among English's thousand most frequent (wordfreq) that the frames say but the lexicon does
# not hold, in frequency order, each with sentences that say it. While the training split explores,
# the generator now and then speaks the first one not yet said, so a one-hour corpus says them all.
# Slots: {noun} a thing, {nouns} things, {person} someone, {verb} a verb phrase in the base form,
# {place} a place, {past} and {future} a time. Left out of the thousand, as no speaker says them as
# written: digits (1, 2, ... 0), stray letters (s, t, d, m, ...), abbreviations (u.s, uk, tv, mr,
# dr, st, co, al, de, re, la, non, etc, lol), and profanity and sex (fuck, fucking, shit, sex).
CLOSED_CLASS_SENTENCES = {
    "just": ["i just wanted to {verb}.", "{person} has just left {place}."],
    "up": ["{person} picked the {noun} up {past}.", "could you pick me up {future}?"],
    "out": ["{person} went out {past}.", "we ran out of {nouns}."],
    "into": ["{person} walked into the {noun}.", "she put the {noun} into a box."],
    "over": ["the meeting was over before we arrived.", "{person} looked over the {noun} again."],
    "off": ["please turn off the {noun}.", "{person} took the day off {past}."],
    "being": ["i'm tired of being late.", "{person} hates being told what to do."],
    "through": ["we walked through {place}.", "{person} looked through the {nouns}."],
    "you're": ["you're right about the {noun}.", "you're going to {verb}, aren't you?"],
    "that's": ["that's the {noun} i told you about.", "that's not what {person} said."],
    "can't": ["i can't {verb} {future}.", "{person} can't find the {noun}."],
    "am": ["i am not sure about the {noun}.", "am i too late?"],
    "between": ["the {noun} is between the {nouns}.", "it's between you and me."],
    "i've": ["i've never seen such a {noun}.", "i've already told {person}."],
    "during": ["{person} fell asleep during the film.", "it happened during the night."],
    "without": ["we left without the {noun}.", "{person} did it without asking."],
    "against": ["the {noun} was leaning against the wall.", "{person} voted against it."],
    "didn't": ["i didn't {verb} {past}.", "{person} didn't say anything."],
    "until": ["wait until {person} comes back.", "we stayed until midnight."],
    "doing": ["what are you doing {future}?", "{person} is doing well."],
    "he's": ["he's not coming {future}.", "he's bought a new {noun}."],
    "having": ["we're having lunch with {person} {future}.", "{person} is having a bad day."],
    "done": ["have you done your homework?", "{person} has done it again."],
    "however": ["however, {person} didn't agree.", "it was late, however, so we went home."],
    "already": ["{person} has already left.", "i've already seen that film."],
    "anything": ["did you buy anything {past}?", "{person} didn't say anything."],
    "nothing": ["there's nothing in the {noun}.", "{person} said nothing."],
    "there's": ["there's a {noun} {place}.", "there's no time to {verb}."],
    "doesn't": ["{person} doesn't like the {noun}.", "it doesn't matter."],
    "yet": ["have you finished yet?", "{person} hasn't called yet."],
    "though": ["it was cold, though.", "even though it rained, we went out."],
    "less": ["it costs less than the {noun}.", "{person} eats less than before."],
    "everyone": ["everyone was at {place}.", "does everyone know {person}?"],
    "they're": ["they're waiting {place}.", "they're not ready yet."],
    "maybe": ["maybe {person} is right.", "maybe we should {verb}."],
    "per": ["it costs ten pounds per person.", "we drove sixty miles per hour."],
    "least": ["at least nobody was hurt.", "it's the least i can do."],
    "within": ["{person} will call within an hour.", "it's within walking distance."],
    "i'll": ["i'll {verb} {future}.", "i'll see you {future}."],
    "ago": ["{person} left two hours ago.", "we met a long time ago."],
    "others": ["the others are waiting {place}.", "{person} helped the others."],
    "isn't": ["isn't it a lovely {noun}?", "{person} isn't here yet."],
    "we're": ["we're going to {verb}.", "we're almost there."],
    "almost": ["we're almost ready.", "{person} almost forgot the {noun}."],
    "several": ["{person} called several times.", "there were several {nouns} {place}."],
    "along": ["we walked along the river.", "bring {person} along."],
    "anyone": ["has anyone seen the {noun}?", "don't tell anyone."],
    "else": ["is there anything else?", "{person} wanted something else."],
    "john": ["john will {verb} {future}.", "have you met john?"],
    "york": ["{person} lives in new york.", "we flew to new york {past}."],
    "i'd": ["i'd like a {noun}, please.", "i'd rather stay at home."],
    "won't": ["{person} won't be long.", "it won't take long."],
    "either": ["i don't like it either.", "you can take either of the {nouns}."],
    "million": ["a million people live there.", "it cost over a million dollars."],
    "rather": ["i'd rather {verb}.", "it was rather cold {past}."],
    "soon": ["see you soon.", "{person} will be back soon."],
    "third": ["it's the third time this week.", "{person} came third in the race."],
    "whether": ["i don't know whether {person} will come.", "ask whether the {noun} is ready."],
    "among": ["the {noun} was hidden among the {nouns}.", "she was among the first to arrive."],
    "further": ["we can't go any further.", "{person} wants to discuss it further."],
    "myself": ["i made it myself.", "i hurt myself {past}."],
    "yourself": ["help yourself.", "did you make it yourself?"],
    "although": ["although it was late, {person} kept working.", "we went, although we were tired."],
    "behind": ["the {noun} is behind the door.", "{person} was sitting behind me."],
    "gonna": ["i'm gonna {verb} {future}.", "it's gonna rain."],
    "quite": ["it's quite far from here.", "{person} is quite tall."],
    "sometimes": ["sometimes we {verb}.", "{person} sometimes forgets the {noun}."],
    "wasn't": ["it wasn't my fault.", "{person} wasn't at home."],
    "london": ["{person} moved to london {past}.", "it's raining in london."],
    "she's": ["she's already gone.", "she's a good friend."],
    "across": ["{person} swam across the river.", "the shop is across the road."],
    "himself": ["he hurt himself {past}.", "{person} did it himself."],
    "you'll": ["you'll love the {noun}.", "you'll be fine."],
    "above": ["the {noun} is above the door.", "it was above freezing {past}."],
    "what's": ["what's your name?", "what's wrong with the {noun}?"],
    "wouldn't": ["{person} wouldn't listen.", "i wouldn't do that if i were you."],
    "let's": ["let's {verb} {future}.", "let's go home."],
    "themselves": ["they enjoyed themselves.", "the children dressed themselves."],
    "usually": ["we usually {verb} on sundays.", "{person} usually walks to work."],
    "ok": ["is it ok if i {verb}?", "ok, let's start."],
    "whatever": ["do whatever you like.", "whatever happens, don't panic."],
    "david": ["david will {verb} {future}.", "have you met david?"],
    "you've": ["you've done a great job.", "you've got a message from {person}."],
    "hey": ["hey, wait for me!", "hey, where's the {noun}?"],
    "upon": ["once upon a time there was a {noun}.", "it depends upon the weather."],
    "cannot": ["i cannot believe it.", "{person} cannot come {future}."],
    "haven't": ["i haven't seen {person} for ages.", "we haven't finished yet."],
    "china": ["{person} went to china {past}.", "the {noun} was made in china."],
    "itself": ["the door opened by itself.", "the {noun} itself was fine."],
    "couldn't": ["i couldn't find the {noun}.", "{person} couldn't sleep."],
    "perhaps": ["perhaps {person} is right.", "perhaps we could {verb}."],
    "michael": ["michael will {verb} {future}.", "ask michael about the {noun}."],
    "ones": ["i like the red ones.", "which ones do you want?"],
    "whose": ["whose {noun} is this?", "the man whose car was stolen called."],
    "australia": ["{person} lives in australia.", "we flew to australia {past}."],
    "okay": ["is everything okay?", "okay, i'll {verb}."],
    "towards": ["{person} walked towards the door.", "we're working towards it."],
    "aren't": ["aren't you coming?", "they aren't ready yet."],
    "below": ["the {noun} is below the window.", "see the notes below."],
    "george": ["george will {verb} {future}.", "have you met george?"],
    "india": ["{person} went to india {past}.", "the tea comes from india."],
    "mine": ["that {noun} is mine.", "{person} is a friend of mine."],
    "wanna": ["do you wanna {verb}?", "i wanna go home."],
    "we've": ["we've got plenty of time.", "we've never been there."],
    "paul": ["paul will {verb} {future}.", "ask paul about it."],
    "someone": ["someone left the {noun} {place}.", "is someone there?"],
    "ever": ["have you ever seen a {noun}?", "it's the best {noun} ever."],
    "might": ["{person} might {verb} {future}.", "it might rain."],
    "please": ["please {verb}.", "could you help me, please?"],
    "second": ["it's the second time {person} has called.", "wait a second."],
    "few": ["a few {nouns} were left.", "{person} stayed for a few days."],
    "enough": ["we don't have enough {nouns}.", "is it big enough?"],
    "everything": ["everything was ready {past}.", "{person} told me everything."],
    "oh": ["oh, i forgot the {noun}!", "oh no, it's raining."],
    "often": ["{person} often forgets the {noun}.", "how often do you {verb}?"],
    "past": ["it's half past seven.", "{person} walked past the {noun}."],
    "near": ["the {noun} is near the door.", "{person} lives near {place}."],
    "six": ["it's six o'clock.", "{person} has six {nouns}."],
    "seven": ["it's seven o'clock.", "we have seven {nouns}."],
    "ten": ["it's ten o'clock.", "{person} waited ten minutes."],
    "today": ["what are you doing today?", "{person} is busy today."],
}

CLOSED_CLASS_SENTENCES.update({
    "but": ["it was cheap but it worked.", "{person} wanted to come, but it was too late."],
    "or": ["tea or coffee?", "we could {verb} or stay at home."],
    "if": ["if it rains, we'll stay in.", "ask {person} if it's true."],
    "so": ["it was late, so we left.", "i'm so glad you came."],
    "because": ["we stayed in because it was raining.", "{person} was late because of the traffic."],
    "while": ["{person} called while i was out.", "wait here for a while."],
    "since": ["i haven't seen {person} since {past}.", "we've lived here since nineteen ninety."],
    "both": ["both of them were late.", "{person} bought both {nouns}."],
    "each": ["each of us got a {noun}.", "they cost five pounds each."],
    "same": ["we have the same {noun}.", "it's always the same."],
    "own": ["{person} has a {noun} of her own.", "i'd like my own room."],
    "such": ["it was such a nice day.", "i've never seen such {nouns}."],
    "another": ["would you like another {noun}?", "{person} found another way."],
    "again": ["could you say that again?", "{person} lost the {noun} again."],
    "must": ["you must {verb}.", "{person} must be tired."],
    "under": ["the {noun} is under the bed.", "{person} hid under the table."],
    "down": ["please sit down.", "{person} put the {noun} down."],
    "every": ["{person} calls every day.", "every {noun} was sold."],
    "around": ["we walked around {place}.", "it costs around ten pounds."],
    "always": ["{person} always forgets the {noun}.", "it's always raining here."],
    "too": ["it's too late to {verb}.", "i want to come too."],
    "still": ["{person} is still asleep.", "are you still here?"],
    "why": ["why did {person} leave?", "why not?"],
    "where": ["where is the {noun}?", "where did you {verb}?"],
    "yes": ["yes, of course.", "yes, i'd love to."],
    "well": ["well, that's a surprise.", "{person} sings very well."],
    "here": ["come here, please.", "the {noun} is here."],
    "very": ["thank you very much.", "it's very kind of you."],
    "really": ["are you really sure?", "{person} really likes the {noun}."],
    "even": ["{person} didn't even call.", "it's even colder today."],
    "never": ["i've never been to {place}.", "{person} never eats {nouns}."],
    "those": ["who are those people?", "those {nouns} are mine."],
    "these": ["these {nouns} are new.", "where did you get these?"],
    "three": ["we have three {nouns}.", "it's three o'clock."],
    "four": ["we have four {nouns}.", "it's four o'clock."],
    "five": ["we have five {nouns}.", "it's five o'clock."],
    "two": ["we have two {nouns}.", "it's two o'clock."],
    "many": ["how many {nouns} do you need?", "many people came {past}."],
    "most": ["most of the {nouns} were sold.", "that's the most important thing."],
    "much": ["how much is the {noun}?", "thank you so much."],
    "something": ["i have something for you.", "{person} forgot something."],
    "before": ["call me before you leave.", "i've seen this {noun} before."],
    "could": ["could you {verb}?", "{person} could be right."],
    "should": ["you should {verb}.", "should we wait for {person}?"],
    "would": ["would you like some tea?", "{person} would never do that."],
    "may": ["may i come in?", "it may rain {future}."],
    "then": ["and then {person} left.", "see you then."],
    "any": ["do you have any {nouns}?", "is there any news?"],
    "us": ["{person} called us {past}.", "come with us."],
    "also": ["{person} also wanted a {noun}.", "i also like {nouns}."],
    "which": ["which {noun} is yours?", "which one do you want?"],
    "there": ["put it over there.", "is anyone there?"],
    "than": ["it's bigger than the {noun}.", "{person} is older than me."],
    "only": ["it's only a {noun}.", "{person} only wanted to {verb}."],
    "did": ["did you {verb}?", "{person} did it {past}."],
    "its": ["the dog wagged its tail.", "the {noun} lost its shine."],
    "it's": ["it's time to go.", "it's a lovely {noun}."],
    "don't": ["don't worry.", "i don't know {person}."],
    "i'm": ["i'm sorry i'm late.", "i'm going to {verb}."],
    "now": ["we have to go now.", "{person} is busy now."],
})
CLOSED_CLASS_SENTENCES.update({
    "america": ["{person} travelled across america {past}.", "have you ever been to america?"],
    "europe": ["{person} is touring europe {future}.", "trains in europe are fast."],
})
# Frequent proper nouns that only a few slots say.
CLOSED_CLASS_SENTENCES.update({
    "earth": ["the earth goes round the sun.", "what on earth is {person} doing?"],
    "god": ["oh my god, look at the {noun}!", "thank god you're here."],
    "lord": ["{person} read the lord of the rings {past}.", "the lord mayor opened the bridge."],
    "south": ["{person} moved to the south {past}.", "the wind is coming from the south."],
    "north": ["we drove north for two hours.", "{person} lives in the north."],
    "west": ["the sun sets in the west.", "{person} went west {past}."],
    "england": ["{person} grew up in england.", "it rains a lot in england."],
    "washington": ["{person} flew to washington {past}.", "the meeting is in washington."],
    "english": ["do you speak english?", "{person} teaches english."],
    "french": ["{person} speaks french.", "we had french bread for lunch."],
})
# Contractions past the first thousand words: frames say them, these make sure they are said.
MORE_CONTRACTION_SENTENCES = dict({
    "who's": ["who's coming {future}?", "who's that at the door?"],
    "where's": ["where's the {noun}?", "where's {person} going?"],
    "how's": ["how's your {noun}?", "how's it going?"],
    "here's": ["here's the {noun} you wanted.", "here's what we'll do."],
    "it'll": ["it'll be fine.", "it'll take about an hour."],
    "that'll": ["that'll be ten pounds, please.", "that'll do."],
    "he'd": ["he'd never seen a {noun} before.", "he'd like to {verb}."],
    "she'd": ["she'd already left.", "she'd rather {verb}."],
    "we'd": ["we'd better go.", "we'd love to come."],
    "they'd": ["they'd never been to {place}.", "they'd like a {noun}."],
    "you'd": ["you'd better hurry.", "you'd love it there."],
    "he'll": ["he'll be back {future}.", "he'll {verb}."],
    "she'll": ["she'll call you {future}.", "she'll {verb}."],
    "they'll": ["they'll arrive {future}.", "they'll never know."],
    "we'll": ["we'll see.", "we'll {verb} {future}."],
    "they've": ["they've gone home.", "they've bought a {noun}."],
    "would've": ["i would've called you.", "it would've been nice."],
    "could've": ["you could've told me.", "it could've been worse."],
    "should've": ["i should've known.", "we should've left earlier."],
    "hasn't": ["{person} hasn't arrived yet.", "it hasn't rained for weeks."],
    "hadn't": ["we hadn't seen {person} for years.", "i hadn't noticed the {noun}."],
    "weren't": ["they weren't at home.", "weren't you at {place}?"],
    "shouldn't": ["you shouldn't {verb}.", "we shouldn't be late."],
    "ain't": ["it ain't over yet.", "ain't that the truth."],
    "gotta": ["i gotta go.", "you gotta see this {noun}."],
    "y'all": ["are y'all ready?", "thank y'all for coming."],
    "mustn't": ["you mustn't {verb}.", "we mustn't forget the {noun}."],
})
