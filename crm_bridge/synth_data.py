"""Word lists and numbering plans behind :mod:`crm_bridge.synth` (data, kept out of the logic).

Number ranges were chosen so that every generated number is *valid* for ``phonenumbers``
(``tests/unit/test_crm_phones.py`` samples them): CN mobiles and Beijing/Shanghai lines, US
numbers in real area codes, UK mobiles and London, German mobiles and Berlin, Australian mobiles.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

COUNTRIES = ("CN", "US", "GB", "DE", "AU")
COUNTRY_WEIGHTS = (45, 25, 12, 10, 8)

# country -> (calling code, [(mobile prefix, national length)], [(landline prefix, length)])
NUMBERING: dict[str, tuple[int, list[tuple[str, int]], list[tuple[str, int]]]] = {
    "CN": (86, [(p, 11) for p in (
        "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
        "155", "156", "157", "158", "159", "176", "177", "180", "181", "182", "185", "186",
        "187", "188", "189")], [("105", 10), ("106", 10), ("215", 10), ("216", 10)]),
    "US": (1, [(a + x, 10) for a in ("212", "415", "646", "312", "617", "206", "305", "512",
                                      "713", "303", "404", "702") for x in "23456789"], []),
    "GB": (44, [("74", 10), ("75", 10), ("78", 10)], [("203", 10), ("207", 10), ("208", 10)]),
    "DE": (49, [(p, 11) for p in ("151", "152", "157", "159", "160", "162", "163", "170",
                                   "171", "172", "173", "174", "175", "176", "177", "178",
                                   "179")], [("302", 10), ("303", 10), ("304", 10)]),
    "AU": (61, [("40", 9), ("41", 9), ("42", 9), ("43", 9), ("46", 9)], []),
}


def _cn_mobile(n: str) -> str:
    return f"{n[:3]}-{n[3:7]}-{n[7:]}" if len(n) == 11 else f"0{n[:2]}-{n[2:]}"


def _us(n: str) -> str:
    return f"({n[:3]}) {n[3:6]}-{n[6:]}"


RAW_STYLES: dict[str, list[Callable[[str], str]]] = {
    "CN": [_cn_mobile, lambda n: f"+86 {n}", lambda n: n if len(n) == 11 else "0" + n],
    "US": [_us, lambda n: f"{n[:3]}-{n[3:6]}-{n[6:]}", lambda n: f"+1 {n[:3]} {n[3:6]} {n[6:]}"],
    "GB": [lambda n: f"0{n[:4]} {n[4:]}", lambda n: f"+44 {n[:4]} {n[4:]}",
           lambda n: f"0044 {n[:4]} {n[4:]}"],
    "DE": [lambda n: f"0{n[:3]} {n[3:]}", lambda n: f"+49 {n[:3]} {n[3:]}"],
    "AU": [lambda n: f"0{n[:3]} {n[3:6]} {n[6:]}", lambda n: f"+61 {n[:3]} {n[3:6]} {n[6:]}"],
}

CN_SURNAMES = (("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"),
               ("杨", "yang"), ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"),
               ("徐", "xu"), ("孙", "sun"), ("马", "ma"), ("朱", "zhu"), ("胡", "hu"),
               ("郭", "guo"), ("何", "he"), ("高", "gao"), ("林", "lin"), ("罗", "luo"))
CN_GIVEN = (("伟", "wei"), ("娜", "na"), ("芳", "fang"), ("敏", "min"), ("静", "jing"),
            ("丽", "li"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"),
            ("勇", "yong"), ("艳", "yan"), ("杰", "jie"), ("娟", "juan"), ("涛", "tao"),
            ("明", "ming"), ("超", "chao"), ("秀英", "xiuying"), ("霞", "xia"), ("平", "ping"),
            ("建华", "jianhua"), ("志强", "zhiqiang"), ("晓明", "xiaoming"), ("婷", "ting"),
            ("桂英", "guiying"), ("玉兰", "yulan"), ("文", "wen"), ("辉", "hui"), ("鑫", "xin"))
EN_FIRST = ("James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda",
            "William", "Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica",
            "Thomas", "Sarah", "Emma", "Oliver", "Sophie", "Harry", "Amelia", "Jack", "Chloe",
            "Noah", "Olivia", "Liam", "Mia", "Lucas")
EN_LAST = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
           "Wilson", "Taylor", "Clark", "Walker", "Hall", "Young", "King", "Wright", "Green",
           "Baker", "Evans", "Thompson", "White", "Harris", "Martin", "Lee", "Patel")
DE_FIRST = ("Lukas", "Anna", "Felix", "Lena", "Jonas", "Laura", "Maximilian", "Sophie", "Paul",
            "Marie", "Leon", "Hannah", "Finn", "Lea", "Elias", "Emilia")
DE_LAST = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
           "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf")

REGIONS = {
    "CN": ("北京", "上海", "广东", "浙江", "江苏", "四川", "湖北", "山东"),
    "US": ("California", "New York", "Texas", "Illinois", "Washington", "Massachusetts",
           "Florida", "Colorado"),
    "GB": ("London", "Manchester", "Birmingham", "Scotland", "Wales", "Leeds"),
    "DE": ("Berlin", "Bayern", "Hamburg", "Hessen", "Sachsen", "Nordrhein-Westfalen"),
    "AU": ("New South Wales", "Victoria", "Queensland", "Western Australia"),
}
TITLES = {
    "CN": ("经理", "总监", "采购主管", "工程师", "总经理", "行政助理"),
    "DE": ("Geschäftsführer", "Einkaufsleiter", "Ingenieurin", "Projektleiter"),
}
for _country in ("US", "GB", "AU"):
    TITLES[_country] = ("Manager", "Director", "Purchasing Lead", "Engineer", "CEO", "Owner",
                        "Office Administrator")
INDUSTRIES = ("Retail", "Manufacturing", "Finance", "Healthcare", "Education", "Logistics",
              "Software", "Hospitality", "Construction", "Energy")
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "example.cn")
CN_COMPANY_WORDS = ("华信", "宏达", "金桥", "东方", "恒通", "新世纪", "瑞丰", "天成")
CN_COMPANY_KINDS = ("科技", "贸易", "物流", "电子", "咨询", "制造")
EN_COMPANY_WORDS = ("Northwind", "Bluebird", "Summit", "Harbor", "Pioneer", "Evergreen",
                    "Granite", "Silverline")
EN_COMPANY_KINDS = ("Logistics", "Systems", "Trading", "Foods", "Consulting", "Health")
STREETS = {
    "CN": ("人民路", "中山路", "解放路", "建国路", "长安街"),
    "US": ("Main St", "Oak Ave", "Market St", "Broadway", "Elm St"),
    "GB": ("High Street", "Station Road", "Church Lane", "Victoria Road"),
    "DE": ("Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schillerstraße"),
    "AU": ("George St", "King St", "Queen St", "Collins St"),
}

PRODUCTS = (("Cloud PBX seat (monthly)", 30.0), ("SIP trunk (monthly)", 50.0),
            ("USB headset", 80.0), ("IP desk phone", 150.0), ("Support plan", 500.0),
            ("Annual licence", 2400.0), ("Installation service", 900.0),
            ("Training day", 1200.0), ("Media gateway", 3500.0), ("Call recording add-on", 200.0))


@dataclass(frozen=True)
class Outcome:
    disposition: str
    answered: bool
    hangup_cause: str


OUTCOMES = (Outcome("resolved", True, "NORMAL_CLEARING"), Outcome("sale", True, "NORMAL_CLEARING"),
            Outcome("callback", True, "NORMAL_CLEARING"),
            Outcome("escalated", True, "NORMAL_CLEARING"),
            Outcome("no_answer", False, "NO_ANSWER"),
            Outcome("abandoned", False, "ORIGINATOR_CANCEL"),
            Outcome("busy", False, "USER_BUSY"))
OUTCOME_WEIGHTS = (45, 12, 12, 5, 12, 10, 4)
QUEUES = ("sales", "support", "billing", "vip")
CAMPAIGNS = ("spring-upgrade", "renewals")
IVR_PATHS = ("main>1", "main>2", "main>2>1", "main>3", "main>code", "main>0")
NOTES = (None, "asked about invoice", "wants a callback next week", "upgrade interest",
         "reported an outage", "address changed", "客户询问发票", "要求回电")
RATING_COMMENTS = (None, None, "helpful", "quick answer", "waited too long", "很满意", "一般")
COMPLAINTS = (("billing", "Charged twice for the same month"),
              ("delivery", "Headsets arrived late"),
              ("product_quality", "Desk phone reboots during calls"),
              ("service", "Nobody called back as promised"),
              ("technical", "Call quality drops in the afternoon"),
              ("billing", "发票金额有误"))


@dataclass(frozen=True)
class Person:
    name: str
    ascii_name: str  # for the e-mail address
    family: str


def person(rng: random.Random, country: str) -> Person:
    if country == "CN":
        family, family_ascii = rng.choice(CN_SURNAMES)
        given, given_ascii = rng.choice(CN_GIVEN)
        return Person(family + given, f"{given_ascii}.{family_ascii}", family)
    first, last = ((rng.choice(DE_FIRST), rng.choice(DE_LAST)) if country == "DE"
                   else (rng.choice(EN_FIRST), rng.choice(EN_LAST)))
    ascii_last = last.replace("ü", "ue").replace("ö", "oe").replace("ä", "ae").replace("ß", "ss")
    return Person(f"{first} {last}", f"{first}.{ascii_last}".lower(), last)


def company(rng: random.Random, country: str, who: Person) -> str:
    if country == "CN":
        city = rng.choice(("北京", "上海", "深圳", "杭州", "广州"))
        return f"{city}{rng.choice(CN_COMPANY_WORDS)}{rng.choice(CN_COMPANY_KINDS)}有限公司"
    suffix = {"DE": "GmbH", "GB": "Ltd", "AU": "Pty Ltd"}.get(country, "Inc.")
    if rng.random() < 0.3:
        return f"{who.family} & Sons {suffix}"
    return f"{rng.choice(EN_COMPANY_WORDS)} {rng.choice(EN_COMPANY_KINDS)} {suffix}"


def address(rng: random.Random, country: str) -> str:
    street = rng.choice(STREETS[country])
    number = rng.randint(1, 400)
    return f"{street}{number}号" if country == "CN" else f"{number} {street}"
