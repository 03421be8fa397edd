"""Word lists the world generator draws from: name syllables, colours, materials, shapes, themes.

Everything here is fictional or generic; the lists are sized so that a world of 100k
entities still gets unique names and varied prose.
"""

from __future__ import annotations

# fmt: off
ONSETS = [
    "b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "j", "k", "kl", "l", "m", "n", "p", "pr", "r", "s", "sh",
    "st", "t", "th", "tr", "v", "w", "z", "b", "d", "k", "l", "m", "n", "r", "s", "t", "v", "", ""
]
VOWELS = ["a", "e", "i", "o", "u", "a", "e", "i", "o", "u", "ae", "ai", "ei", "ou", "ia", "y"]
CODAS = ["", "", "", "n", "r", "l", "s", "th", "k", "m", "nd", "rn", "x", "v", "lt"]
PLACE_SUFFIXES = [
    "holt", "mere", "grad", "ova", "ford", "heim", "stead", "ros", "vale", "burg", "ia", "ene", "polis", "wick",
    "dorf", "ana", "mark", "haven", "gate", "oria"
]
GIVEN_NAMES = [
    "Ada", "Alaric", "Alma", "Anselm", "Aurel", "Bertil", "Brisa", "Cael", "Calla", "Caspian", "Cora", "Dagny",
    "Darius", "Delphine", "Edda", "Elio", "Elsin", "Emeric", "Fen", "Freya", "Gideon", "Greta", "Halvard", "Hedda",
    "Ilse", "Imre", "Ines", "Ivo", "Jarek", "Jovana", "Kael", "Kasimir", "Klara", "Lars", "Leocadia", "Linnea",
    "Lior", "Livia", "Lucan", "Maren", "Matteo", "Mira", "Nadia", "Nikolai", "Noor", "Odile", "Orla", "Osric",
    "Petra", "Quill", "Rafael", "Rhea", "Roan", "Runa", "Sabine", "Selim", "Signe", "Soren", "Talia", "Tamsin",
    "Teodor", "Thea", "Ulla", "Ursin", "Valdis", "Vera", "Viggo", "Wren", "Xenia", "Yara", "Yusuf", "Zora", "Agnar",
    "Beatrix", "Cosmin", "Dorota", "Eskil", "Fiora", "Gunnel", "Hakon", "Isolde", "Jorunn", "Kiran", "Ludmila",
    "Magnus", "Nerys", "Otmar", "Pilar", "Radu", "Saskia", "Tobiah", "Ugne", "Vesna", "Wendel"
]
TITLES = ["Captain", "Professor", "Sister", "Old", "Little", "Doctor", "Lady", "Sir", "Master", "Great"]
# colour name -> RGB; the renderers paint with these so that images agree with attributes
COLOURS: dict[str, tuple[int, int, int]] = {
    "crimson": (190, 20, 50), "scarlet": (240, 40, 20), "vermilion": (227, 66, 52), "orange": (245, 130, 20),
    "amber": (255, 180, 0), "gold": (212, 175, 55), "yellow": (250, 225, 40), "lime": (160, 220, 40),
    "green": (30, 150, 60), "emerald": (0, 155, 110), "teal": (0, 128, 128), "turquoise": (64, 210, 200),
    "azure": (0, 127, 255), "blue": (30, 60, 200), "navy": (20, 30, 100), "indigo": (75, 0, 130),
    "violet": (140, 60, 210), "magenta": (210, 30, 160), "pink": (245, 150, 180), "maroon": (110, 20, 30),
    "brown": (120, 75, 35), "ochre": (204, 119, 34), "beige": (225, 205, 165), "ivory": (250, 245, 225),
    "white": (245, 245, 245), "silver": (190, 195, 200), "grey": (120, 120, 125), "charcoal": (50, 52, 58),
    "black": (15, 15, 18), "olive": (110, 120, 30), "coral": (255, 120, 90), "plum": (120, 50, 100)
}
MATERIALS: dict[str, tuple[int, int, int]] = {
    "granite": (130, 128, 130), "marble": (235, 232, 225), "sandstone": (215, 180, 120), "basalt": (55, 55, 60),
    "oak": (150, 105, 60), "cedar": (170, 90, 60), "bronze": (176, 115, 50), "copper": (184, 95, 50),
    "iron": (80, 80, 85), "steel": (160, 168, 178), "glass": (170, 215, 230), "brick": (160, 60, 45),
    "limestone": (222, 214, 190), "jade": (0, 168, 107), "obsidian": (30, 25, 40), "silver": (192, 192, 200),
    "gold": (212, 175, 55), "porcelain": (240, 244, 250), "terracotta": (200, 100, 60), "ivory": (250, 245, 225),
    "slate": (90, 100, 110), "amber": (255, 190, 40), "tin": (200, 200, 195), "ebony": (40, 30, 25)
}
SHAPES = [
    "circle", "square", "triangle", "diamond", "hexagon", "star", "crescent", "cross", "ring", "arch", "wave",
    "spiral", "shield", "key", "tower", "leaf", "sun", "eye", "anchor", "crown"
]
ARCH_STYLES = [
    "gothic", "baroque", "brutalist", "art deco", "neoclassical", "modernist", "romanesque", "vernacular",
    "tidewater", "stepped", "lattice", "cantilever"
]
LANDMARK_KINDS = [
    "tower", "bridge", "abbey", "lighthouse", "observatory", "citadel", "aqueduct", "dome", "gate", "pagoda",
    "obelisk", "arena"
]
OCCUPATIONS = [
    "cartographer", "composer", "engineer", "painter", "botanist", "architect", "astronomer", "poet", "sculptor",
    "glassblower", "navigator", "chemist", "historian", "inventor", "linguist", "weaver", "clockmaker", "physician",
    "playwright", "explorer", "mathematician", "actor", "singer", "athlete"
]
ORG_KINDS = [
    "Instruments", "Trading Company", "Guild", "Society", "Works", "Institute", "Press", "Foundry", "Collective",
    "Consortium", "Laboratories", "Shipping", "Mills", "Observatory Trust", "Academy"
]
GENRES = [
    "puzzle", "strategy", "platformer", "role-playing", "racing", "rhythm", "simulation", "adventure", "card",
    "exploration", "survival", "sports"
]
CREATURES = [
    "heron", "fox", "owl", "otter", "lynx", "moth", "tortoise", "stag", "salamander", "crane", "badger", "beetle",
    "hare", "whale", "falcon", "newt", "raven", "seal", "boar", "swift", "gecko", "bison"
]
HABITATS = [
    "wetland", "alpine meadow", "cloud forest", "salt marsh", "limestone cave", "kelp forest", "steppe",
    "river delta", "tundra", "mangrove", "desert scrub", "peat bog"
]
STATUSES = ["least concern", "near threatened", "vulnerable", "endangered", "critically endangered"]
DOMAINS = [
    "tides", "harvests", "thresholds", "storms", "memory", "forges", "lanterns", "rivers", "echoes", "orchards",
    "bridges", "winter", "dreams", "salt", "bees", "crossroads"
]
INGREDIENTS = [
    "barley", "chestnut", "smoked eel", "sour cherry", "buckwheat", "goat cheese", "saffron", "fennel", "quince",
    "lentils", "rye", "juniper", "honey", "walnut", "sorrel", "plum", "river trout", "millet"
]
DISHES = [
    "dumplings", "stew", "flatbread", "pastry", "broth", "sausage", "cake", "preserve", "pie", "porridge",
    "skewers", "soup"
]
TOY_KINDS = [
    "spinning top", "puzzle box", "kite", "wind-up bird", "marionette", "building set", "yo-yo", "tin robot",
    "rocking horse", "music box", "doll", "board game"
]
RELIC_KINDS = [
    "chalice", "crown", "astrolabe", "seal", "reliquary", "helmet", "codex", "brooch", "drum", "mask", "sword",
    "lamp"
]
ART_MEDIA = [
    "oil on canvas", "tempera on panel", "fresco", "watercolour", "woodcut", "mosaic", "charcoal", "bronze cast",
    "tapestry", "lacquer"
]
ADJECTIVES = [
    "silver", "drowned", "quiet", "burning", "hollow", "seventh", "northern", "patient", "iron", "amber",
    "sleeping", "hidden", "crooked", "last", "wandering", "glass", "folded", "bright", "salt", "lantern"
]
NOUNS = [
    "lantern", "harbour", "orchard", "tide", "key", "choir", "meridian", "threshold", "garden", "compass",
    "archive", "ferry", "loom", "bell", "mirror", "estuary", "citadel", "feather", "clock", "winter"
]
VERBS = ["bind", "guard", "remember", "carry", "kindle", "outlast", "welcome", "steady", "gather", "mend"]
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December"
]
CURRENCY_WORDS = ["crown", "mark", "thaler", "florin", "dinar", "sol", "lira", "ore", "shell", "talent"]
LANGUAGES_SUFFIX = ["ic", "ish", "ese", "ian", "i"]
# words of the unique phrases (mottos, inscriptions, epithets …): kept apart from the words of
# titles and filler so that a phrase's words point at the one article that states it
PHRASE_ADJ = [
    "amber-eyed", "unbroken", "windward", "lowland", "evergreen", "sunken", "twofold", "unhurried", "starlit",
    "weathered", "copper-bright", "moonlit", "restless", "steadfast", "open-handed", "tireless", "lantern-lit",
    "far-seeing", "rain-washed", "slow-burning", "unyielding", "sea-worn", "honest", "thrice-told", "gentle",
    "iron-willed", "wind-blown", "golden-hearted", "dusky", "saffron"
]
PHRASE_NOUNS = [
    "anvil", "barley", "beacon", "cinder", "dune", "ember", "fjord", "glacier", "hearth", "ivy", "juniper",
    "kestrel", "lichen", "marrow", "nettle", "oar", "pewter", "quarry", "reed", "thistle", "umber", "vane",
    "willow", "yarrow", "zephyr", "acorn", "bramble", "cairn", "dovecote", "eddy", "furrow", "gorse", "heron",
    "inkwell", "jetty", "kiln", "lodestar", "millstone", "nightjar", "outcrop", "parapet", "quill", "rampart",
    "sickle", "tinder", "undertow", "vineyard", "wellspring", "yoke", "causeway"
]
PHRASE_VERBS = [
    "shelters", "outshines", "awaits", "nourishes", "steers", "forgives", "summons", "crowns", "tempers", "wakens",
    "harbours", "shepherds", "kindles", "anchors", "braves", "honours", "sings to", "mends", "outlasts",
    "remembers"
]
# fmt: on
