"""Realistic demo members, periods and payments in bulk: `python manage.py generate_demo_data --members N`.

For trying the staff pages and for the benchmarks (bench/staff.py): a million members and about three
million payments take a few minutes on PostgreSQL (COPY), small numbers work anywhere (bulk_create).

What it makes, as the services would have left it:

- users with Kenyan names (Kikuyu, Luhya, Kalenjin, Luo, Kamba, Kisii, Meru, coastal/Swahili and Somali
  names, mostly with an English/Christian first name), mostly in the county their name is common in; a
  small share from other East African countries; all in the Member group, all with the password
  DEMO_PASSWORD (hashed once, the hash reused);
- applications spread over the last five years (more recently than long ago), decided 1-90 days later:
  pending, approved (fee unpaid), rejected, or approved and paid, i.e. active; active members renew on
  time, late (in grace, or after it with the late fee) or stop, so today they are active, in grace or
  expired exactly as `run_lifecycle_jobs` would have left them; a few are suspended;
- membership numbers <PREFIX>-<YEAR>-<NNNN> (roughly in approval order: members are made in order of
  application), receipt numbers RCT-<YEAR>-<NNNNNN> (gapless per year, but in the order members are made,
  not strictly by payment date), and core's YearlyCounter rows advanced past both, so real approvals and
  payments made afterwards continue the sequences;
- payments: a completed registration payment for every member whose fee is paid, one renewal payment per
  renewal, mostly M-Pesa (unique 10-character M-Pesa receipts) and some cash, cheque and bank transfers
  (unique external references); failed, cancelled and timed-out attempts before some of them, and a few
  still pending;
- `search_text` computed with members.search.build_search_text.

Not made: documents (there are no files to point at), audit-trail entries, notifications, reminders.

Unique values (email, phone, ID number, M-Pesa receipt, CheckoutRequestID, cash/cheque/bank references) are
derived from the row's primary key through bijections, and the run reserves its keys from the sequences
first, so a second run never collides with the first; phones, ID numbers and emails that hand-made rows
already hold are skipped. Tokens are random (the random stream differs per run). Deterministic for a given
--seed and database state (and today's date). Refuses to run when DEBUG is off unless --force: demo data.
"""

from __future__ import annotations

import base64
import bisect
import datetime
import math
import random
import sys
import threading
import time
import zoneinfo
from contextlib import contextmanager
from dataclasses import dataclass, field
from queue import Empty, Queue
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management import BaseCommand, CommandError, call_command
from django.db import connection, transaction
from django.db.models import Max
from django.utils import dateformat, timezone

from accounts.roles import MEMBER
from core.models import YearlyCounter
from members.models import Country, Member, MembershipCategory, Region
from members.numbering import WIDTH as NUMBER_WIDTH
from members.search import build_search_text
from payments.models import Payment

# Every generated member's password. Documented in bench/README.md; demo data only.
DEMO_PASSWORD = "demo-member-2026"  # noqa: S105

RECEIPT_PREFIX = "RCT"  # payments.services.RECEIPT_PREFIX
RECEIPT_WIDTH = 6  # payments.services.RECEIPT_WIDTH
YEARS = 5  # applications are spread over this many years before today
RENEWAL_WINDOW_DAYS = settings.RENEWAL_WINDOW_DAYS

# --- Names ---------------------------------------------------------------------------------------------
# Each list is in rough order of how common the name is; a Zipf-like weight makes the first names common
# and the last ones rare, so searches for a common surname and for a rare one both mean something.


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


CHRISTIAN_MALE = _words(
    "John Peter James Joseph David Daniel Samuel Paul Stephen Michael George Charles Brian Kevin Dennis "
    "Collins Victor Patrick Francis Anthony Simon Moses Isaac Eric Martin Vincent Kennedy Geoffrey Alex "
    "Robert Richard Felix Evans Edwin Timothy Philip Benson Joshua Emmanuel Wilson Nicholas Gideon Caleb "
    "Elijah Erick Fredrick Duncan Mark Allan Ian Lawrence Titus Job Nelson Hillary Amos Silas Stanley "
    "Bernard Cyrus Dickson Edward Harrison Jackson Levi Meshack Oscar Reuben Sammy Wycliffe Boniface Jared "
    "Jeremiah Kelvin Maxwell Naftali Solomon Ezekiel Benard Humphrey Newton Elvis Ronald Douglas Jacob "
    "Nathan Abel Zachary Kennedy Erastus Shadrack Enock Justus Japheth Obadiah Gilbert Wellington Ambrose"
)
CHRISTIAN_FEMALE = _words(
    "Mary Grace Faith Mercy Joyce Jane Esther Lucy Ann Elizabeth Margaret Catherine Rose Caroline Nancy "
    "Eunice Alice Susan Dorcas Beatrice Christine Irene Jacqueline Lilian Purity Sharon Winnie Gladys Janet "
    "Diana Sarah Ruth Naomi Rachel Rebecca Priscilla Tabitha Damaris Emily Florence Agnes Monica Veronica "
    "Josephine Judith Hellen Edith Millicent Pauline Salome Teresia Brenda Cynthia Stella Vivian Everlyne "
    "Winfred Loise Phyllis Peris Jecinta Gloria Maureen Doris Hannah Deborah Lydia Ivy Joy Linet Cecilia "
    "Lucia Rosemary Martha Evelyn Edna Miriam Charity Joan Scholastica Mildred Consolata Roselyne Dorothy "
    "Ruth Leah Tracy Valentine Sheila Yvonne Elsie Bridget Philomena Zipporah Jemimah Keziah Lois Abigail"
)
MUSLIM_MALE = _words(
    "Mohamed Ali Hassan Omar Abdalla Rashid Said Bakari Juma Hamisi Salim Athman Swaleh Yusuf Ibrahim "
    "Ismail Issa Hussein Abubakar Khamis Suleiman Mwalimu Faraj Nassir Twaha Mbarak Shaban Ramadhan"
)
MUSLIM_FEMALE = _words(
    "Fatuma Amina Mwanajuma Zainab Aisha Halima Mariam Rehema Saumu Salma Khadija Zawadi Asha Mwanaisha "
    "Riziki Zuhura Hadija Mwanahawa Nuru Latifa Mwanamisi Sharifa Tatu"
)
SOMALI_MALE = _words(
    "Abdirahman Abdullahi Ahmed Mohamed Hassan Ibrahim Ismail Yusuf Abdikadir Abdiaziz Mahat Hussein Farah "
    "Osman Omar Aden Bashir Guled Hamza Mustafa Abdinoor Abdiwahab Mohamud Ali Dahir Siyad"
)
SOMALI_FEMALE = _words(
    "Fatuma Amina Halima Hodan Sahra Ifrah Hawa Asha Maryan Safia Deka Fardosa Ubah Khadija Ruqia Nasra "
    "Sadia Hibo Anisa Sagal Habiba Faiza Naima"
)


@dataclass(frozen=True)
class NameGroup:
    surnames: tuple[str, ...]
    male: tuple[str, ...]  # traditional names, used as other names (and sometimes as first names)
    female: tuple[str, ...]
    christian_share: float = 0.85  # share with an English/Christian first name
    muslim_share: float = 0.0


def _group(surnames, male, female, **kwargs):
    return NameGroup(tuple(surnames.split()), tuple(male.split()), tuple(female.split()), **kwargs)


NAME_GROUPS = {
    "kikuyu": _group(
        "Kamau Mwangi Njoroge Kariuki Maina Kimani Ngugi Githinji Njuguna Wanjiru Macharia Gitau Waweru Mugo "
        "Kinyua Wambugu Muriuki Karanja Ndungu Kiarie Gichuki Nderitu Muchiri Mburu Wachira Irungu Mbugua "
        "Njenga Chege Ng'ang'a Kihara Mathenge Githaiga Kagwe Kuria Wainaina Thuo Gakuru Kamande Munene "
        "Ndirangu Gachanja Kibe Kiragu Kinyanjui Njogu Gathogo Muthee Wahome Kirubi Gathara Kabiru Nyaga",
        "Kamau Njoroge Mwangi Kariuki Maina Kimani Ngugi Gitau Waweru Kinyanjui Mugo Macharia Njuguna Kiarie",
        "Wanjiku Njeri Wambui Wairimu Nyambura Wanjiru Muthoni Nyokabi Wangari Wangui Waithera Wacera "
        "Wanjugu Njambi Wamaitha Gathoni Wanja Mumbi Nyawira Waceke",
    ),
    "luhya": _group(
        "Wafula Wekesa Barasa Simiyu Wanyama Makokha Wanjala Masinde Shikuku Khaemba Mukhwana Wasike "
        "Nyongesa Wamalwa Khisa Mulongo Lusweti Ambani Amisi Opicho Kweyu Wangila Sifuna Kundu Keya Namwamba "
        "Mukabana Shitanda Muyonga Omusula Atsiaya Ingutia Lumbasi Matere",
        "Wafula Wekesa Barasa Simiyu Wanyama Wanjala Masinde Wasike Khaemba",
        "Nafula Nekesa Nasimiyu Naliaka Nanjala Nabwire Namalwa Nangila Nasambu Khavai Mmbone Anyango",
    ),
    "kalenjin": _group(
        "Kiprotich Kipchumba Cheruiyot Kiprono Kibet Kipkemboi Kirui Koech Langat Mutai Rotich Rono Ruto "
        "Sang Tanui Too Bett Kiptoo Kiplagat Kipkorir Kosgei Korir Keter Kemboi Biwott Kiptanui Yego Kogo "
        "Ngeno Chepkwony Kimutai Cheboi Kiptum Tergat Kimeli Lagat Chelimo Kibii Kirwa Towett Maiyo",
        "Kiprotich Kipchumba Kiprono Kibet Kipkemboi Kiptoo Kiplagat Kipkorir Kimutai Kiptum Kimeli",
        "Chebet Chepkoech Chelangat Jepkosgei Jeptoo Chepngetich Cherono Jepchirchir Chemutai Jelagat "
        "Chepchumba Jerotich Cheptoo Chelimo",
    ),
    "luo": _group(
        "Otieno Odhiambo Ochieng Onyango Owino Omondi Oduor Okoth Ouma Ogola Okello Odera Opiyo Obiero Owuor "
        "Oloo Ogutu Aloo Odongo Oyoo Orwa Oketch Obura Okumu Ojwang Oginga Omolo Ongera Oyugi Awuor Nyamwaya "
        "Olang Onyach Osewe Ochola Agola Ndolo Okeyo Otiende Oduya",
        "Otieno Ochieng Odhiambo Onyango Omondi Okoth Ouma Owino Oduor Opiyo Odongo",
        "Achieng Akinyi Atieno Adhiambo Anyango Awino Auma Akoth Apiyo Awuor Amondi Aoko Aluoch Akello",
    ),
    "kamba": _group(
        "Mutua Musyoka Mutuku Kioko Mwendwa Muthama Kilonzo Muema Makau Mulwa Musau Nzioka Kyalo Mutinda "
        "Kimeu Mbithi Ndambuki Nzomo Wambua Muli Kitheka Munyao Mwanzia Ngui Nthenge Kisilu Mulinge Kiilu "
        "Maweu Mwangangi Kasyoki Nzuki Mbuvi Masila",
        "Mutua Musyoka Mutuku Kioko Muema Makau Mutinda Mwendwa Kyalo Nzioka",
        "Mwikali Mueni Ndunge Mumbua Kavata Syombua Wayua Kalunda Nduku Mwende Katunge Ndinda Kanini Mwongeli",
    ),
    "kisii": _group(
        "Nyamweya Ombati Ongeri Mogaka Nyakundi Onsongo Momanyi Ondieki Nyangweso Mokaya Mose Obwocha Omwenga "
        "Nyabuto Ogeto Ochoki Orina Onyancha Matara Arasa Bichanga Mokua Nyamache Makori Oirere Mainga",
        "Mogaka Nyakundi Ombati Momanyi Ondieki Makori Mokua Ochoki",
        "Nyaboke Kemunto Moraa Bosibori Kwamboka Nyanchama Kerubo Nyamoita Kemuma Bitengo",
    ),
    "meru": _group(
        "Mutwiri Kirimi Murithi Gitonga Mwiti Kinoti Kiambi Mugambi Muriungi Mwenda Kaberia Mbaabu Koome "
        "Nyaga Njiru Ireri Muriithi Kimathi Mutembei Kithinji Mbaya Gikunda Marete Mutuma Nkanata",
        "Mutwiri Kirimi Murithi Gitonga Mwiti Kinoti Mugambi Mwenda Koome Ireri",
        "Nkirote Kagendo Karimi Mukami Gatwiri Kendi Makena Kathure Kanana Kawira Ciambaka Nkatha Kinya",
    ),
    "coastal": _group(
        "Baya Kazungu Karisa Charo Katana Kahindi Ngala Kenga Mwamba Chengo Tsuma Mwachiro Kalume Mramba "
        "Mwinyi Bakari Juma Hamisi Salim Athman Swaleh Mbwana Kombo Masha Dzombo Nyale Mwakio Mwadime "
        "Mwakazi Tsofa Jefwa Kitsao Mwaro Ruwa Mwatsuma",
        "Baya Kazungu Karisa Charo Katana Kahindi Kenga Tsuma Kalume",
        "Kadzo Sidi Dama Kache Riziki Mwanajuma Zawadi Rehema Halima Mwanaisha Kanze Dhahabu",
        christian_share=0.5,
        muslim_share=0.45,
    ),
    "somali": _group(
        "Mohamed Abdi Hassan Ali Ahmed Osman Aden Farah Hussein Ibrahim Omar Yusuf Abdullahi Sheikh Adan Noor "
        "Ismail Warsame Gedi Dahir Mahamud Hirsi Dualeh Abdirahman Mohamud Abdikadir Guled Haji Bashir Elmi "
        "Maalim Billow Mahat Kassim Issack",
        "",
        "",
        christian_share=0.0,
        muslim_share=1.0,
    ),
    # Other East African countries' common surnames; Swahili/English first names.
    "TZ": _group(
        "Mushi Msuya Kimaro Massawe Mbwambo Lyimo Swai Temba Ngowi Mwakyusa Mrema Shirima Kweka Mollel "
        "Mwakalinga Komba Mapunda Mhina Nyirenda Kessy",
        "Baraka Juma Hamisi Salim",
        "Neema Zawadi Rehema Upendo Furaha",
        christian_share=0.7,
        muslim_share=0.25,
    ),
    "UG": _group(
        "Okello Musoke Ssempala Mugisha Tumusiime Byaruhanga Kato Wasswa Nsubuga Kaggwa Mukasa Ochieng Opio "
        "Namutebi Kiggundu Ssekandi Atuhaire Kyomuhendo Nakato Babirye",
        "Kato Wasswa Mukasa Ssemakula",
        "Nakato Babirye Namutebi Nansubuga Kyomuhendo",
    ),
    "RW": _group(
        "Habimana Uwimana Niyonzima Mukamana Nshimiyimana Ndayisaba Mugabo Uwase Ishimwe Hakizimana Nkurunziza",
        "Mugabo Ishimwe Kwizera",
        "Uwase Ingabire Umutoni Mukamana",
    ),
    "BI": _group(
        "Ndayishimiye Niyonkuru Nkurunziza Ndikumana Hakizimana Nduwimana Bigirimana Niyongabo Irakoze",
        "Irakoze Ndikumana",
        "Irakoze Iteka Kaneza",
    ),
    "SS": _group(
        "Deng Garang Majok Akol Lual Mabior Kuol Machar Ajak Malual Bol Manyang Mayen Chol Atem",
        "Deng Garang Majok Akol Lual",
        "Nyandeng Achol Ayen Abuk Nyibol",
        christian_share=0.9,
    ),
    "CD": _group(
        "Mbuyi Kalala Ilunga Mukendi Kasongo Lukusa Tshibangu Kabongo Mwamba Kabeya Ngoy Mutombo Kanku Banza",
        "Kalala Ilunga Kasongo",
        "Mbuyi Ngalula Kapinga",
        christian_share=0.9,
    ),
    "ET": _group(
        "Tesfaye Bekele Girma Haile Tadesse Alemu Mekonnen Wolde Getachew Abebe Desta Kebede Negash Assefa",
        "Dawit Yonas Abel Tewodros",
        "Selam Hana Meron Tigist Bethlehem",
        christian_share=0.3,
        muslim_share=0.2,
    ),
}
NAME_GROUPS["SO"] = NAME_GROUPS["somali"]

# Kenya's ethnic mix, roughly; used for Nairobi, the big towns and anyone outside their home county.
KENYA_MIX = {
    "kikuyu": 0.20,
    "luhya": 0.15,
    "kalenjin": 0.14,
    "luo": 0.12,
    "kamba": 0.11,
    "kisii": 0.06,
    "meru": 0.07,
    "coastal": 0.09,
    "somali": 0.06,
}
# County code -> the group most people there are named from (70% of them).
COUNTY_GROUP = {
    **dict.fromkeys(["001", "002", "003", "004", "005", "006"], "coastal"),
    **dict.fromkeys(["007", "008", "009"], "somali"),
    **dict.fromkeys(["012", "013", "014"], "meru"),
    **dict.fromkeys(["015", "016", "017"], "kamba"),
    **dict.fromkeys(["018", "019", "020", "021", "022"], "kikuyu"),
    **dict.fromkeys(["027", "028", "029", "030", "035", "036"], "kalenjin"),
    **dict.fromkeys(["037", "038", "039", "040"], "luhya"),
    **dict.fromkeys(["041", "042", "043", "044"], "luo"),
    **dict.fromkeys(["045", "046"], "kisii"),
}
# County code -> (population in thousands, 2019 census; main town; postal code). A professional body's
# members live in towns more than the census does: the big towns get a boost below.
COUNTIES = {
    "001": (1208, "Mombasa", "80100"),
    "002": (867, "Kwale", "80403"),
    "003": (1453, "Kilifi", "80108"),
    "004": (316, "Hola", "70101"),
    "005": (143, "Lamu", "80500"),
    "006": (341, "Voi", "80300"),
    "007": (841, "Garissa", "70100"),
    "008": (781, "Wajir", "70200"),
    "009": (867, "Mandera", "70300"),
    "010": (459, "Marsabit", "60500"),
    "011": (268, "Isiolo", "60300"),
    "012": (1545, "Meru", "60200"),
    "013": (393, "Chuka", "60400"),
    "014": (608, "Embu", "60100"),
    "015": (1136, "Kitui", "90200"),
    "016": (1421, "Machakos", "90100"),
    "017": (987, "Wote", "90300"),
    "018": (638, "Ol Kalou", "20303"),
    "019": (759, "Nyeri", "10100"),
    "020": (610, "Kerugoya", "10300"),
    "021": (1056, "Murang'a", "10200"),
    "022": (2417, "Kiambu", "00900"),
    "023": (926, "Lodwar", "30500"),
    "024": (621, "Kapenguria", "30600"),
    "025": (310, "Maralal", "20600"),
    "026": (990, "Kitale", "30200"),
    "027": (1163, "Eldoret", "30100"),
    "028": (454, "Iten", "30700"),
    "029": (885, "Kapsabet", "30300"),
    "030": (666, "Kabarnet", "30400"),
    "031": (518, "Nanyuki", "10400"),
    "032": (2162, "Nakuru", "20100"),
    "033": (1157, "Narok", "20500"),
    "034": (1117, "Kajiado", "01100"),
    "035": (901, "Kericho", "20200"),
    "036": (875, "Bomet", "20400"),
    "037": (1867, "Kakamega", "50100"),
    "038": (590, "Mbale", "50300"),
    "039": (1670, "Bungoma", "50200"),
    "040": (893, "Busia", "50400"),
    "041": (993, "Siaya", "40600"),
    "042": (1155, "Kisumu", "40100"),
    "043": (1131, "Homa Bay", "40300"),
    "044": (1116, "Migori", "40400"),
    "045": (1266, "Kisii", "40200"),
    "046": (605, "Nyamira", "40500"),
    "047": (4397, "Nairobi", "00100"),
}
URBAN_BOOST = {"047": 2.5, "001": 1.5, "022": 1.5, "032": 1.5, "042": 1.5, "027": 1.5}
# Members from other East African countries (the rest of the 4% share below is spread evenly).
FOREIGN_COUNTRIES = {"UG": 0.30, "TZ": 0.30, "RW": 0.10, "SS": 0.10, "SO": 0.08, "ET": 0.06, "BI": 0.03, "CD": 0.03}
FOREIGN_SHARE = 0.04

# Nairobi estates (members elsewhere get a street in their county town).
ESTATES = tuple(
    name.replace("_", " ")
    for name in _words(
        "Kilimani Kileleshwa Westlands Lavington Karen Langata South_B South_C Embakasi Kasarani Roysambu "
        "Ruaka Kahawa_West Githurai Umoja Buruburu Donholm Kayole Ngong_Road Rongai Kitengela Syokimau Ruiru "
        "Juja Thika_Road Parklands Upper_Hill Hurlingham Kilimani Pangani Eastleigh Ngara Runda Gigiri"
    )
)
STREETS = (
    "Moi Avenue",
    "Kenyatta Avenue",
    "Haile Selassie Avenue",
    "Ngong Road",
    "Waiyaki Way",
    "Mombasa Road",
    "Jogoo Road",
    "Thika Road",
    "Oginga Odinga Street",
    "Uhuru Highway",
    "Kimathi Street",
    "Tom Mboya Street",
    "Ronald Ngala Street",
    "Nkrumah Road",
    "Digo Road",
    "Kenyatta Highway",
    "Oloo Street",
    "Uganda Road",
)
OCCUPATIONS = (
    ("Accountant", 8),
    ("Teacher", 8),
    ("Nurse", 6),
    ("Civil engineer", 5),
    ("Software developer", 5),
    ("Business owner", 6),
    ("Clinical officer", 3),
    ("Lawyer", 3),
    ("Pharmacist", 2),
    ("Electrical engineer", 3),
    ("Architect", 2),
    ("Quantity surveyor", 2),
    ("Procurement officer", 3),
    ("Human resource officer", 3),
    ("Sales executive", 3),
    ("Marketing officer", 2),
    ("Banker", 3),
    ("Lecturer", 2),
    ("Journalist", 1),
    ("Data analyst", 2),
    ("ICT officer", 3),
    ("Auditor", 2),
    ("Economist", 1),
    ("Agronomist", 1),
    ("Veterinary officer", 1),
    ("Public health officer", 1),
    ("Land surveyor", 1),
    ("Project manager", 2),
    ("Consultant", 2),
    ("Civil servant", 3),
    ("Farmer", 3),
    ("Doctor", 2),
    ("Mechanical engineer", 1),
    ("Graphic designer", 1),
    ("Hotel manager", 1),
)
EMPLOYERS = (
    "Ministry of Health",
    "Ministry of Education",
    "Teachers Service Commission",
    "Kenya Revenue Authority",
    "Kenya Power",
    "KenGen",
    "Safaricom PLC",
    "KCB Bank",
    "Equity Bank",
    "Co-operative Bank of Kenya",
    "NCBA Bank",
    "Kenyatta National Hospital",
    "Moi Teaching and Referral Hospital",
    "Kenya Ports Authority",
    "Kenya Airways",
    "Kenya Railways",
    "Nation Media Group",
    "East African Breweries",
    "Bamburi Cement",
    "Kenya Urban Roads Authority",
    "Kenya Rural Roads Authority",
    "National Hospital Insurance Fund",
    "Self-employed",
    "Self-employed",
    "Self-employed",
)
UNIVERSITIES = (
    "University of Nairobi",
    "Kenyatta University",
    "Moi University",
    "Jomo Kenyatta University of Agriculture and Technology",
    "Strathmore University",
    "Egerton University",
    "Maseno University",
    "Technical University of Kenya",
    "Technical University of Mombasa",
    "Masinde Muliro University",
    "Dedan Kimathi University of Technology",
    "Multimedia University of Kenya",
    "Kenya Medical Training College",
    "Mount Kenya University",
)
COMPANY_WORDS = _words(
    "Savanna Highland Rift Valley Baobab Acacia Tana Kilima Jambo Umoja Pamoja Bidii Neema Zuri Imara "
    "Sokoni Lakeview Coastline Mlima Mwangaza Faraja Amani Tumaini Nyota Upendo"
)
COMPANY_KINDS = (
    "Engineering Ltd",
    "Consultants Ltd",
    "Holdings Ltd",
    "Technologies Ltd",
    "Agencies",
    "Builders Ltd",
    "Logistics Ltd",
    "Solutions Ltd",
    "Associates",
    "Sacco Ltd",
)
REJECTION_REASONS = (
    "The certificate uploaded does not show the qualification this category requires.",
    "The ID number does not match the name on the uploaded ID.",
    "The documents were unreadable and no replacement was uploaded within 30 days.",
    "A membership already exists for this person.",
    "The application does not meet the membership criteria for this category.",
)
SUSPENSION_REASONS = (
    "Suspended pending a disciplinary inquiry.",
    "Suspended: a complaint is under review by the ethics committee.",
    "Suspended at the member's request while working abroad.",
    "Suspended for breach of the code of conduct.",
)
EMAIL_DOMAINS = (("example.com", 6), ("example.org", 2), ("example.net", 2))

# Safaricom prefixes (phonenumbers' carrier data): 07XX and 011X numbers, all valid mobiles.
SAFARICOM_PREFIXES = tuple(
    [f"7{n:02d}" for n in range(0, 30)]
    + ["740", "741", "742", "743", "745", "746", "748", "749", "757", "758", "759", "768", "769"]
    + [f"79{n}" for n in range(10)]
    + [f"11{n}" for n in range(10)]
)

# Bijections k -> value (k = the row's primary key): unique for every k below the modulus.
PHONE_SPACE = len(SAFARICOM_PREFIXES) * 1_000_000
ID_SPACE = 40_000_000  # national ID numbers 1,000,000 - 40,999,999 (7 and 8 digits)
PASSPORT_SPACE = 26 * 26 * 10_000_000  # AB1234567
ALIEN_SPACE = 90_000_000  # 8 digits
MPESA_SPACE = 36**7  # the 7 characters after an M-Pesa receipt's date code
BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _multiplier(space: int, near: float) -> int:
    """A multiplier coprime with `space` near `near * space`: x -> (a*x + b) % space is then a bijection."""
    a = int(space * near) | 1
    while math.gcd(a, space) != 1:
        a += 2
    return a


PHONE_A = _multiplier(PHONE_SPACE, 0.6180339)
ID_A = _multiplier(ID_SPACE, 0.4142135)
PASSPORT_A = _multiplier(PASSPORT_SPACE, 0.7320508)
ALIEN_A = _multiplier(ALIEN_SPACE, 0.2360679)
MPESA_A = _multiplier(MPESA_SPACE, 0.5772156)


def phone_for(k: int) -> str:
    x = (PHONE_A * k + 7_654_321) % PHONE_SPACE
    prefix, rest = divmod(x, 1_000_000)
    return f"254{SAFARICOM_PREFIXES[prefix]}{rest:06d}"


def national_id_for(k: int) -> str:
    return str(1_000_000 + (ID_A * k + 12_345_678) % ID_SPACE)


def passport_for(k: int) -> str:
    x = (PASSPORT_A * k + 98_765) % PASSPORT_SPACE
    letters, digits = divmod(x, 10_000_000)
    return f"{BASE36[10 + letters // 26]}{BASE36[10 + letters % 26]}{digits:07d}"


def alien_id_for(k: int) -> str:
    return str(10_000_000 + (ALIEN_A * k + 4_321) % ALIEN_SPACE)


class TakenValues:
    """Phones and ID numbers that rows already in the table hold, as the ids k whose derived value they are
    (the bijections inverted). A member of this run whose id is `in_run` takes a value from the far end of
    the space instead, skipping the far-end ids that are `far` (taken there already)."""

    SPACES = {"phone": PHONE_SPACE, "national_id": ID_SPACE, "passport": PASSPORT_SPACE, "alien_id": ALIEN_SPACE}
    DERIVE = {
        "phone": lambda k: phone_for(k),
        "national_id": lambda k: national_id_for(k),
        "passport": lambda k: passport_for(k),
        "alien_id": lambda k: alien_id_for(k),
    }

    def __init__(self, first: int, count: int):
        self.first, self.last = first, first + count
        self.in_run = {kind: set() for kind in self.SPACES}
        self.far = {kind: set() for kind in self.SPACES}
        self.found = 0

    def add(self, kind: str, value: str) -> None:
        k = _inverse(kind, value)
        if k is None:
            return
        if self.first <= k < self.last:
            self.in_run[kind].add(k)
            self.found += 1
        if k >= self.SPACES[kind] // 2:
            self.far[kind].add(k)

    def value(self, kind: str, k: int) -> str:
        if k not in self.in_run[kind]:
            return self.DERIVE[kind](k)
        space, far = self.SPACES[kind], self.far[kind]
        candidate = space - 1 - k
        while candidate in far:
            candidate -= 1
        far.add(candidate)
        return self.DERIVE[kind](candidate)


_PREFIX_INDEX = {prefix: i for i, prefix in enumerate(SAFARICOM_PREFIXES)}


def _inverse(kind: str, value: str) -> int | None:
    """The k with <kind>_for(k) == value, or None when no k gives it."""
    value = value or ""
    if kind == "phone":
        if len(value) != 12 or not value.startswith("254") or not value.isdigit():
            return None
        index = _PREFIX_INDEX.get(value[3:6])
        if index is None:
            return None
        x, a, b, space = index * 1_000_000 + int(value[6:]), PHONE_A, 7_654_321, PHONE_SPACE
    elif kind == "national_id":
        if not value.isdigit() or not 1_000_000 <= int(value) < 1_000_000 + ID_SPACE or value[0] == "0":
            return None
        x, a, b, space = int(value) - 1_000_000, ID_A, 12_345_678, ID_SPACE
    elif kind == "passport":
        if len(value) != 9 or not value[:2].isalpha() or not value[:2].isupper() or not value[2:].isdigit():
            return None
        letters = (ord(value[0]) - 65) * 26 + ord(value[1]) - 65
        x, a, b, space = letters * 10_000_000 + int(value[2:]), PASSPORT_A, 98_765, PASSPORT_SPACE
    else:
        if not value.isdigit() or not 10_000_000 <= int(value) < 10_000_000 + ALIEN_SPACE or value[0] == "0":
            return None
        x, a, b, space = int(value) - 10_000_000, ALIEN_A, 4_321, ALIEN_SPACE
    return (x - b) * pow(a, -1, space) % space


def mpesa_receipt_for(k: int, day: datetime.date) -> str:
    """SFK3X8Y2ZQ-like: year letter (2019 = N ... 2024 = S), month letter (A = January), day (1-9, A-V),
    then seven characters that are unique per payment id."""
    x = (MPESA_A * k + 1_000_003) % MPESA_SPACE
    tail = []
    for _ in range(7):
        x, digit = divmod(x, 36)
        tail.append(BASE36[digit])
    year = chr(ord("N") + (day.year - 2019) % 13)
    return f"{year}{BASE36[9 + day.month]}{BASE36[day.day]}{''.join(tail)}"


def base36(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, digit = divmod(value, 36)
        out.append(BASE36[digit])
    return "".join(reversed(out))


def period_end(start: datetime.date, months: int) -> datetime.date:
    """members.services.period_end_for without relativedelta (it is called millions of times): the last
    day of `months` calendar months from `start`; when the same day `months` later does not exist the next
    period starts on the 1st of the following month."""
    month0 = start.month - 1 + months
    year, month = start.year + month0 // 12, month0 % 12 + 1
    try:
        next_start = start.replace(year=year, month=month)
    except ValueError:  # 31 Jan + 1 month, 29 Feb + 12 months: the 1st of the month after
        next_start = datetime.date(year + month // 12, month % 12 + 1, 1)
    return next_start - datetime.timedelta(days=1)


def _weights(items, exponent=0.9):
    """Cumulative Zipf-like weights for a list in order of popularity."""
    total, cumulative = 0.0, []
    for rank in range(len(items)):
        total += 1.0 / (rank + 1) ** exponent
        cumulative.append(total)
    return cumulative


class Picker:
    """Weighted choice by bisecting cumulative weights (random.choices rebuilds them on every call)."""

    __slots__ = ("items", "cumulative", "total")

    def __init__(self, items, weights=None, *, zipf=None):
        self.items = tuple(items)
        if zipf is not None:
            self.cumulative = _weights(self.items, zipf)
        else:
            self.cumulative, total = [], 0.0
            for weight in weights:
                total += weight
                self.cumulative.append(total)
        self.total = self.cumulative[-1]

    def __call__(self, rng):
        return self.items[bisect.bisect(self.cumulative, rng.random() * self.total)]


def _below(rng, n: int) -> int:
    """rng.randrange(n) without its argument checks (called millions of times)."""
    return int(rng.random() * n)


def _between(rng, a: int, b: int) -> int:
    return a + int(rng.random() * (b - a))


def _ascii(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


# --- Generation ---------------------------------------------------------------------------------------


@dataclass
class Sequences:
    """Next membership and receipt numbers per year: continue from the counters (and from any number
    already in the table), and are written back to YearlyCounter at the end."""

    prefix: str
    numbers: dict[int, int] = field(default_factory=dict)
    receipts: dict[int, int] = field(default_factory=dict)

    def membership_number(self, year: int) -> str:
        value = self.numbers[year] = self.numbers[year] + 1
        return f"{self.prefix}-{year}-{value:0{NUMBER_WIDTH}d}"

    def receipt_number(self, year: int) -> str:
        value = self.receipts[year] = self.receipts[year] + 1
        return f"{RECEIPT_PREFIX}-{year}-{value:0{RECEIPT_WIDTH}d}"


@dataclass
class Batch:
    users: list = field(default_factory=list)
    members: list = field(default_factory=list)
    payments: list = field(default_factory=list)  # dicts until their ids are known


@dataclass
class Stats:
    members: int = 0
    payments: int = 0
    statuses: dict = field(default_factory=dict)
    payment_statuses: dict = field(default_factory=dict)


FAILURES = (
    # status, result_code, description, source, weight
    (Payment.Status.CANCELLED, "1032", "Request cancelled by user", "callback", 45),
    (Payment.Status.FAILED, "1", "The balance is insufficient for the transaction.", "callback", 25),
    (Payment.Status.FAILED, "2001", "The initiator information is invalid.", "callback", 12),
    (Payment.Status.FAILED, "1037", "DS timeout user cannot be reached", "callback", 6),
    (Payment.Status.TIMEOUT, "", "", "reconciliation", 12),
)


class DemoData:
    """Builds rows (dicts keyed by attname) for users, members and payments, member by member."""

    def __init__(self, *, rng, now, count, categories, regions, countries, password_hash, member_group_id, seq, taken):
        self.rng = rng
        self.taken = taken
        self.tz = now.tzinfo
        self.now = now
        self.today = now.date()
        self.count = count
        self.password_hash = password_hash
        self.member_group_id = member_group_id
        self.seq = seq
        self.horizon = self.today - datetime.timedelta(days=round(365.25 * YEARS))
        self.span_seconds = (now - datetime.datetime.combine(self.horizon, datetime.time(), self.tz)).total_seconds()
        self.growth = math.log(2.0)  # five years ago a day brought half as many applications as today

        # Categories: full and associate are most members; unknown codes get an even share.
        share = {"student": 15, "associate": 30, "full": 42, "corporate": 6, "life": 3}
        self.categories = list(categories)
        self.category = Picker(
            self.categories, [share.get(c.code, 5) * (1 if c.is_active else 0.2) for c in categories]
        )

        self.kenya_regions = {r.code: r for r in regions if r.country_id == "KE"}
        counties = [code for code in COUNTIES if code in self.kenya_regions]
        extra = [code for code in self.kenya_regions if code not in COUNTIES]
        self.county = Picker(
            counties + extra,
            [COUNTIES[c][0] * URBAN_BOOST.get(c, 1.0) for c in counties] + [300] * len(extra),
        )
        self.foreign_regions: dict[str, list] = {}
        for region in regions:
            if region.country_id != "KE":
                self.foreign_regions.setdefault(region.country_id, []).append(region)
        foreign = {code: w for code, w in FOREIGN_COUNTRIES.items() if code in countries}
        self.foreign = Picker(list(foreign), list(foreign.values())) if foreign else None
        self.kenya_mix = Picker(list(KENYA_MIX), list(KENYA_MIX.values()))

        self.surnames = {key: Picker(g.surnames, zipf=1.0) for key, g in NAME_GROUPS.items()}
        self.male_names = {key: Picker(g.male, zipf=0.8) for key, g in NAME_GROUPS.items() if g.male}
        self.female_names = {key: Picker(g.female, zipf=0.8) for key, g in NAME_GROUPS.items() if g.female}
        self.christian = {"male": Picker(CHRISTIAN_MALE, zipf=0.9), "female": Picker(CHRISTIAN_FEMALE, zipf=0.9)}
        self.muslim = {"male": Picker(MUSLIM_MALE, zipf=0.9), "female": Picker(MUSLIM_FEMALE, zipf=0.9)}
        self.somali = {"male": Picker(SOMALI_MALE, zipf=0.9), "female": Picker(SOMALI_FEMALE, zipf=0.9)}
        self.gender = Picker(
            [Member.Gender.FEMALE, Member.Gender.MALE, Member.Gender.UNDISCLOSED, Member.Gender.OTHER],
            [48.5, 50, 1.2, 0.3],
        )
        self.occupation = Picker([o for o, _ in OCCUPATIONS], [w for _, w in OCCUPATIONS])
        self.employer = Picker(EMPLOYERS, zipf=0.5)
        self.university = Picker(UNIVERSITIES, zipf=0.7)
        self.domain = Picker([d for d, _ in EMAIL_DOMAINS], [w for _, w in EMAIL_DOMAINS])
        self.failure = Picker(FAILURES, [f[4] for f in FAILURES])
        self.method = Picker(
            [Payment.Method.MPESA, Payment.Method.BANK, Payment.Method.CHEQUE, Payment.Method.CASH], [86, 6, 4, 4]
        )
        self.banks = ("EQUITY", "KCB", "COOP", "NCBA", "ABSA", "STANBIC", "FAMILY", "DTB", "I&M")

        # Applications in time order, streamed: the i-th smallest of `count` uniforms, via order statistics.
        self._u = 0.0
        self._remaining = count

    # --- time helpers ---

    def _at(self, day: datetime.date, start_hour=7, end_hour=21) -> datetime.datetime:
        seconds = _between(self.rng, start_hour * 3600, end_hour * 3600)
        return datetime.datetime.combine(day, datetime.time(seconds // 3600, seconds // 60 % 60, seconds % 60), self.tz)

    def _next_applied_at(self) -> datetime.datetime:
        rng = self.rng
        self._u += (1.0 - self._u) * (1.0 - rng.random() ** (1.0 / self._remaining))
        self._remaining -= 1
        fraction = math.log1p(self._u * math.expm1(self.growth)) / self.growth
        moment = datetime.datetime.combine(self.horizon, datetime.time(), self.tz) + datetime.timedelta(
            seconds=fraction * self.span_seconds
        )
        applied = self._at(moment.date(), 6, 23)
        if applied > self.now:
            applied = self.now - datetime.timedelta(seconds=_between(rng, 60, 3600))
        return applied

    # --- one member ---

    def member(self, user_id: int, member_id: int, batch: Batch, stats: Stats) -> None:
        rng = self.rng
        applied_at = self._next_applied_at()
        category = self.category(rng)

        # Where they live and what they are called.
        if self.foreign is not None and rng.random() < FOREIGN_SHARE:
            country = self.foreign(rng)
            regions = self.foreign_regions.get(country)
            region = regions[_below(rng, len(regions))] if regions else None
            group_key = country
            county_code = None
        else:
            country = "KE"
            county_code = self.county(rng)
            region = self.kenya_regions[county_code]
            home = COUNTY_GROUP.get(county_code)
            group_key = home if home and rng.random() < 0.7 else self.kenya_mix(rng)
        group = NAME_GROUPS[group_key]
        gender = self.gender(rng)
        sex = gender if gender in ("male", "female") else ("female" if rng.random() < 0.5 else "male")
        traditional = (self.male_names if sex == "male" else self.female_names).get(group_key)
        roll = rng.random()
        if roll < group.muslim_share:
            first = (self.somali if group_key in ("somali", "SO") else self.muslim)[sex](rng)
        elif roll < group.muslim_share + group.christian_share or traditional is None:
            first = self.christian[sex](rng)
        else:
            first = traditional(rng)
        last = self.surnames[group_key](rng)
        other = ""
        roll = rng.random()
        if traditional is not None and roll < 0.55:
            other = traditional(rng)
        elif roll < 0.65:
            other = self.christian[sex](rng)
        if other in (first, last):
            other = ""

        # Contact details: unique by construction from the row ids.
        email = self._email(first, last, user_id)
        phone = self.taken.value("phone", member_id)
        if country == "KE":
            id_type = Member.IdType.NATIONAL_ID if rng.random() < 0.98 else Member.IdType.PASSPORT
        else:
            id_type = Member.IdType.PASSPORT if rng.random() < 0.7 else Member.IdType.ALIEN_ID
        id_number = self.taken.value(id_type, member_id)

        dob = self._date_of_birth(applied_at.date(), category.code)
        occupation, organisation = self._work(category.code, county_code, region)
        town = COUNTIES[county_code][1] if county_code in COUNTIES else (region.name if region else "")
        postal = ""
        if county_code in COUNTIES and rng.random() < 0.7:
            postal = f"P.O. Box {_between(rng, 1, 99999)}-{COUNTIES[county_code][2]}, {town}"
        physical = ""
        if rng.random() < 0.9:
            place = ESTATES[_below(rng, len(ESTATES))] if county_code == "047" else STREETS[_below(rng, 18)]
            physical = f"{place}, {town}" if town else place

        row = {
            "id": member_id,
            "user_id": user_id,
            "category_id": category.pk,
            "other_names": other,
            "id_type": id_type,
            "id_number": id_number,
            "date_of_birth": dob,
            "gender": gender,
            "phone_number": phone,
            "postal_address": postal,
            "physical_address": physical,
            "country_id": country,
            "region_id": region.pk if region else None,
            "occupation": occupation,
            "organisation": organisation,
            "applied_at": applied_at,
            "verification_token": self._token(24),
            "notify_by_email": rng.random() < 0.95,
            "notify_by_sms": rng.random() < 0.85,
        }
        payments = self._history(row, category, phone, user_id)
        status = row["status"]
        stats.statuses[status] = stats.statuses.get(status, 0) + 1

        last_login = None
        if status in ("active", "grace", "approved", "pending") and rng.random() < 0.6:
            last_login = max(applied_at, self.now - datetime.timedelta(seconds=_between(rng, 1, 120 * 86400)))
        batch.users.append(
            {
                "id": user_id,
                "password": self.password_hash,
                "last_login": last_login,
                "is_superuser": False,
                "email": email,
                "first_name": first,
                "last_name": last,
                "is_staff": False,
                "is_active": True,
                "date_joined": applied_at,
            }
        )
        row["search_text"] = build_search_text(
            SimpleNamespace(
                user=SimpleNamespace(first_name=first, last_name=last, email=email),
                other_names=other,
                membership_number=row["membership_number"],
                id_number=id_number,
                phone_number=phone,
            )
        )
        batch.members.append(row)
        batch.payments.extend(payments)
        stats.members += 1
        for payment in payments:
            stats.payment_statuses[payment["status"]] = stats.payment_statuses.get(payment["status"], 0) + 1
        stats.payments += len(payments)

    def _email(self, first, last, user_id):
        rng = self.rng
        first, last = _ascii(first), _ascii(last)
        style = _below(rng, 6)
        if style == 0:
            local = f"{first}.{last}"
        elif style == 1:
            local = f"{first}{last}"
        elif style == 2:
            local = f"{first[0]}{last}"
        elif style == 3:
            local = f"{last}.{first}"
        elif style == 4:
            local = f"{first}_{last}"
        else:
            local = f"{first}.{last[0]}"
        return f"{local}{user_id}@{self.domain(rng)}"

    def _token(self, size):
        return base64.urlsafe_b64encode(self.rng.randbytes(size)).rstrip(b"=").decode()

    def _date_of_birth(self, applied: datetime.date, category_code: str) -> datetime.date:
        rng = self.rng
        if category_code == "student":
            age = 18 + int(12 * rng.random() ** 2)
        else:
            age = 22 + int(43 * rng.betavariate(2.2, 3.5))
        years_ago = (self.today - applied).days / 365.25
        age = max(18, min(age, int(74 - years_ago)))  # 18 or more when applying, 75 at most today
        return applied - datetime.timedelta(days=int(age * 365.25) + _between(rng, 1, 360))

    def _work(self, category_code, county_code, region):
        rng = self.rng
        if category_code == "student":
            return "Student", self.university(rng)
        if category_code == "corporate":
            name = f"{COMPANY_WORDS[_below(rng, len(COMPANY_WORDS))]} {COMPANY_KINDS[_below(rng, 10)]}"
            return "Company secretary" if rng.random() < 0.3 else "Director", name
        occupation = self.occupation(rng)
        roll = rng.random()
        if roll < 0.15 and county_code in COUNTIES and region is not None:
            organisation = f"County Government of {region.name}"
        elif roll < 0.85:
            organisation = self.employer(rng)
        else:
            organisation = ""
        return occupation, organisation

    # --- the membership's history ---

    def _history(self, row, category, phone, user_id) -> list[dict]:
        """Decide the application, the fee, every renewal and today's status; return the payments."""
        rng, now, today = self.rng, self.now, self.today
        applied_at = row["applied_at"]
        payments: list[dict] = []
        row.update(
            status=Member.Status.PENDING,
            status_reason="",
            status_changed_at=applied_at,
            membership_number=None,
            approved_at=None,
            activated_at=None,
            registration_paid_at=None,
            registration_payment_reference="",
            period_start=None,
            period_end=None,
            updated_at=applied_at,
        )
        pay = _PaymentMaker(self, row["id"], phone, user_id, payments)

        # The fee: most pay with the application, some after approval, a few never.
        roll = rng.random()
        if roll < 0.62:
            paid_at = applied_at + datetime.timedelta(seconds=_between(rng, 30, 1800))
        elif roll < 0.98:
            paid_at = None  # after the approval, below
        else:
            paid_at = False  # never
        decided_at = applied_at + datetime.timedelta(days=1 + 90 * rng.random() ** 1.6, seconds=_below(rng, 3600))
        decided_at = decided_at.replace(hour=_between(rng, 8, 17))
        if decided_at <= applied_at:
            decided_at = applied_at + datetime.timedelta(hours=2)
        rejected = rng.random() < 0.04

        if decided_at > now:  # still waiting for review
            if paid_at and paid_at <= now:
                self._register(row, pay, category, paid_at)
            elif rng.random() < 0.15:
                pay.attempt_fails(Payment.Type.REGISTRATION, category.registration_fee, applied_at)
            return payments
        if rejected:
            if paid_at and paid_at <= decided_at:
                self._register(row, pay, category, paid_at)
            row.update(
                status=Member.Status.REJECTED,
                status_reason=REJECTION_REASONS[_below(rng, len(REJECTION_REASONS))],
                status_changed_at=decided_at,
                updated_at=decided_at,
            )
            return payments

        # Approved: the number is issued in the year of approval.
        row.update(
            status=Member.Status.APPROVED,
            approved_at=decided_at,
            membership_number=self.seq.membership_number(decided_at.year),
            status_changed_at=decided_at,
            updated_at=decided_at,
        )
        if paid_at is None:
            lag = datetime.timedelta(days=60 * rng.random() ** 3, seconds=_between(rng, 60, 36000))
            paid_at = decided_at + lag
        if not paid_at or paid_at > now:
            roll = rng.random()
            if roll < 0.3:
                pay.attempt_fails(Payment.Type.REGISTRATION, category.registration_fee, decided_at)
            elif roll < 0.36:
                pay.pending(Payment.Type.REGISTRATION, category.registration_fee)
            return payments
        self._register(row, pay, category, paid_at)

        # Active from the later of approval and payment.
        activated_at = max(decided_at, paid_at)
        start = activated_at.date()
        row.update(
            status=Member.Status.ACTIVE,
            status_reason="Approved and registration fee received.",
            status_changed_at=activated_at,
            activated_at=activated_at,
            period_start=start,
            updated_at=activated_at,
        )
        suspend_at = None
        if rng.random() < 0.012:
            suspend_at = activated_at + (now - activated_at) * rng.random()
        months, grace = category.period_months, category.grace_days
        if not months:  # never expires: nothing to renew
            return self._maybe_suspend(row, suspend_at, payments)

        end = period_end(start, months)
        while True:
            roll = rng.random()
            if roll < 0.85:  # on time, in the renewal window: the period is extended, its start kept
                paid_on = end - datetime.timedelta(days=int(RENEWAL_WINDOW_DAYS * rng.random() ** 1.5))
                paid_on = max(paid_on, start)
                paid = self._at(paid_on)
                if paid > now or (suspend_at and paid > suspend_at):
                    break
                pay.completed(Payment.Type.RENEWAL, category.renewal_fee, paid)
                end = period_end(end + datetime.timedelta(days=1), months)
                row["updated_at"] = paid
            elif roll < 0.93:  # late: in grace (renewal fee) or after it (plus the late fee); a new period
                if roll < 0.89 and grace:
                    paid_on = end + datetime.timedelta(days=_between(rng, 1, grace + 1))
                    kind, amount = Payment.Type.RENEWAL, category.renewal_fee
                else:
                    paid_on = end + datetime.timedelta(days=grace + 1 + int(400 * rng.random() ** 2))
                    kind, amount = Payment.Type.LATE_PAYMENT, category.renewal_fee + category.late_fee
                paid = self._at(paid_on)
                if paid > now or (suspend_at and paid > suspend_at):
                    break
                pay.completed(kind, amount, paid)
                start, end = paid_on, period_end(paid_on, months)
                row.update(period_start=start, status_reason="Renewed.", status_changed_at=paid, updated_at=paid)
            else:  # stops renewing; some try once and fail
                if rng.random() < 0.15:
                    tried = self._at(end + datetime.timedelta(days=_between(rng, -20, 40)))
                    if tried <= now:
                        pay.attempt_fails(Payment.Type.RENEWAL, category.renewal_fee, tried, alone=True)
                break
        row["period_end"] = end
        if suspend_at is None and end < today:
            # What the daily job (members.lifecycle) did on the day after the end, and after the grace.
            grace_ends = end + datetime.timedelta(days=grace)
            if today <= grace_ends:
                row["status"] = Member.Status.GRACE
                row["status_reason"] = (
                    f"The membership period ended on {_day(end)}; the grace period runs until {_day(grace_ends)}."
                )
                changed = end + datetime.timedelta(days=1)
            else:
                row["status"] = Member.Status.EXPIRED
                if grace_ends > end:
                    row["status_reason"] = f"The grace period ended on {_day(grace_ends)}."
                else:
                    row["status_reason"] = f"The membership period ended on {_day(end)}."
                changed = grace_ends + datetime.timedelta(days=1)
            changed_at = datetime.datetime.combine(changed, datetime.time(6, 0, _below(rng, 60)), self.tz)
            row["status_changed_at"] = row["updated_at"] = max(changed_at, row["updated_at"])
        return self._maybe_suspend(row, suspend_at, payments)

    def _maybe_suspend(self, row, suspend_at, payments):
        if suspend_at is not None:
            row.update(
                status=Member.Status.SUSPENDED,
                status_reason=SUSPENSION_REASONS[_below(self.rng, len(SUSPENSION_REASONS))],
                status_changed_at=suspend_at,
                updated_at=max(suspend_at, row["updated_at"]),
            )
        return payments

    def _register(self, row, pay, category, paid_at):
        payment = pay.completed(Payment.Type.REGISTRATION, category.registration_fee, paid_at)
        # payment_complete replaces the payment reference with the receipt number.
        row["registration_paid_at"] = payment["completed_at"]
        row["registration_payment_reference"] = payment["receipt_number"]


def _day(day: datetime.date) -> str:
    return dateformat.format(day, "j F Y")


class _PaymentMaker:
    """Payment rows for one member, in the shapes the payment services leave behind."""

    def __init__(self, data: DemoData, member_id, phone, user_id, out):
        self.data, self.member_id, self.phone, self.user_id, self.out = data, member_id, phone, user_id, out

    def _base(self, kind, amount, created_at, method=Payment.Method.MPESA):
        rng = self.data.rng
        mpesa = method == Payment.Method.MPESA
        return {
            "reference": self.data._token(12),
            "member_id": self.member_id,
            "payment_type": kind,
            "method": method,
            "amount": amount,
            "phone_number": (self.phone if rng.random() < 0.92 else phone_for(_below(rng, PHONE_SPACE)))
            if mpesa
            else "",
            "merchant_request_id": f"{_between(rng, 10000, 99999)}-{_between(rng, 10**7, 10**8)}-1" if mpesa else "",
            "checkout_request_id": None,  # needs the id: filled in by _finish_payment
            "mpesa_receipt_number": None,
            "result_code": "",
            "result_description": "",
            "result_source": "",
            "callback_token": self.data._token(24),
            "external_reference": "",
            "receipt_number": None,
            "initiated_by_id": self.user_id if mpesa else None,
            "created_at": created_at,
            "updated_at": created_at,
            "sent_at": created_at + datetime.timedelta(seconds=1 + rng.random() * 2) if mpesa else None,
            "completed_at": None,
            "last_checked_at": None,
            "check_count": 0,
        }

    def completed(self, kind, amount, at):
        """A completed payment whose money arrived at `at`; sometimes after a failed attempt."""
        rng, seq = self.data.rng, self.data.seq
        method = self.data.method(rng)
        if method == Payment.Method.MPESA:
            roll = rng.random()
            if roll < 0.27:  # STK pushes often fail first: cancelled, no balance, wrong PIN, no answer
                self.attempt_fails(kind, amount, at - datetime.timedelta(minutes=2 + 40 * rng.random()))
                if roll < 0.07:
                    self.attempt_fails(kind, amount, at - datetime.timedelta(minutes=45 + 600 * rng.random()))
            created = at - datetime.timedelta(seconds=10 + rng.random() * 50)
            payment = self._base(kind, amount, created)
            payment.update(
                status=Payment.Status.COMPLETED,
                result_code="0",
                result_description="The service request is processed successfully.",
                result_source="callback" if rng.random() < 0.96 else "query",
                completed_at=at,
                updated_at=at,
            )
        else:
            # payment_record_offline: completed at the start of the day received, recorded a little later.
            completed_at = datetime.datetime.combine(at.date(), datetime.time(), self.data.tz)
            created = min(completed_at + datetime.timedelta(hours=8 + rng.random() * 60), self.data.now)
            payment = self._base(kind, amount, created, method)
            label = Payment.Method(method).label
            payment.update(
                status=Payment.Status.COMPLETED,
                result_source="offline",
                completed_at=completed_at,
                updated_at=created,
                external_reference=(method, at.date()),  # made unique by _finish_payment
                result_description=(label, at.date()),
            )
        payment["receipt_number"] = seq.receipt_number(payment["completed_at"].year)
        self.out.append(payment)
        return payment

    def attempt_fails(self, kind, amount, at, alone=False):
        rng = self.data.rng
        status, code, description, source, _ = self.data.failure(rng)
        payment = self._base(kind, amount, at)
        end = at + datetime.timedelta(seconds=15 + rng.random() * 45)
        if status == Payment.Status.TIMEOUT:
            end = at + datetime.timedelta(seconds=900 + rng.random() * 120)
            payment.update(last_checked_at=end, check_count=_between(rng, 1, 4))
            if end > self.data.now:
                return None  # too recent to have timed out
        payment.update(status=status, result_code=code, result_description=description, result_source=source)
        payment["updated_at"] = end
        self.out.append(payment)
        return payment

    def pending(self, kind, amount):
        rng = self.data.rng
        payment = self._base(kind, amount, self.data.now - datetime.timedelta(seconds=5 + rng.random() * 80))
        payment.update(status=Payment.Status.PENDING)
        self.out.append(payment)
        return payment


def _first_free(candidates, exists):
    for value in candidates:
        if not exists(value):
            return value
    raise CommandError("No free value found for a generated member; try another --seed.")


def _finish_payment(payment: dict, payment_id: int, banks) -> None:
    """Fill what needs the payment's id: Daraja's CheckoutRequestID, the M-Pesa receipt, offline references."""
    payment["id"] = payment_id
    if payment["method"] == Payment.Method.MPESA:
        created = payment["created_at"]
        payment["checkout_request_id"] = f"ws_CO_{created:%d%m%Y%H%M%S}{payment_id:012d}"
        if payment["status"] == Payment.Status.COMPLETED:
            payment["mpesa_receipt_number"] = mpesa_receipt_for(payment_id, payment["completed_at"].date())
        return
    method, day = payment["external_reference"]
    label, _ = payment["result_description"]
    if method == Payment.Method.CASH:
        reference = f"CR {payment_id:08d}"
    elif method == Payment.Method.CHEQUE:
        reference = f"{banks[payment_id % len(banks)]} CHQ {payment_id:08d}"
    else:
        reference = f"FT{day:%y}{day.timetuple().tm_yday:03d}{base36(payment_id, 6)}"
    payment["external_reference"] = reference
    payment["result_description"] = f"{label} {reference}, received {day:%d %b %Y}"


def _generated_batches(data: DemoData, count, batch_size, first_user, first_member, stats):
    """Yield batches of generated rows. A thread generates the next batch while the caller writes this one,
    so Python and the database work at the same time (the thread touches no database)."""
    queue: Queue = Queue(maxsize=2)
    stop = threading.Event()

    def produce():
        try:
            done = 0
            while done < count and not stop.is_set():
                batch = Batch()
                for i in range(done, min(done + batch_size, count)):
                    data.member(first_user + i, first_member + i, batch, stats)
                done += len(batch.members)
                queue.put(batch)
            queue.put(None)
        except BaseException as error:  # handed to the consumer, which raises it
            queue.put(error)

    thread = threading.Thread(target=produce, name="generate_demo_data", daemon=True)
    thread.start()
    try:
        while True:
            item = queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                queue.get(timeout=0.1)
            except Empty:
                pass
        thread.join()


# --- Writing -------------------------------------------------------------------------------------------


class Progress:
    """A one-line progress bar on stderr (a line per 10% when stderr is not a terminal)."""

    def __init__(self, total, label, stream=None, enabled=True):
        self.total, self.label, self.stream, self.enabled = total, label, stream or sys.stderr, enabled
        self.started = self.last = time.monotonic()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.next_tenth = 1

    def update(self, done, extra=""):
        if not self.enabled:
            return
        now = time.monotonic()
        finished = done >= self.total
        if self.tty:
            if now - self.last < 0.2 and not finished:
                return
        elif not finished and done * 10 < self.next_tenth * self.total:
            return
        self.next_tenth = done * 10 // max(self.total, 1) + 1
        self.last = now
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else 0.0
        fraction = done / self.total if self.total else 1.0
        bar = "#" * int(30 * fraction) + "-" * (30 - int(30 * fraction))
        line = (
            f"{self.label} [{bar}] {fraction:4.0%} {done:,}/{self.total:,} {rate:,.0f}/s "
            f"elapsed {elapsed:,.0f}s ETA {eta:,.0f}s {extra}"
        )
        if self.tty:
            self.stream.write("\r" + line + ("\n" if finished else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _attnames(model):
    return [f.attname for f in model._meta.concrete_fields]


class Writer:
    """Inserts rows (dicts keyed by attname) into a model's table; fields a row lacks take their default."""

    def __init__(self, models):
        self.seconds: dict[str, float] = {}  # time spent writing, per table
        self.columns = {}
        for model in models:
            fields = model._meta.concrete_fields
            defaults = {}
            for f in fields:
                defaults[f.attname] = f.get_default if f.has_default() and callable(f.default) else f.get_default()
            self.columns[model] = ([f.attname for f in fields], [f.column for f in fields], defaults)

    def _layout(self, model, rows):
        """Attnames and columns to write: the primary key is left to the database when rows do not carry it."""
        attnames, columns, defaults = self.columns[model]
        pk = model._meta.pk.attname
        if rows and pk not in rows[0]:
            keep = [i for i, name in enumerate(attnames) if name != pk]
            attnames, columns = [attnames[i] for i in keep], [columns[i] for i in keep]
        return attnames, columns, defaults

    def _values(self, attnames, defaults, rows):
        for row in rows:
            values = []
            for name in attnames:
                if name in row:
                    values.append(row[name])
                else:
                    default = defaults[name]
                    values.append(default() if callable(default) else default)
            yield values

    def write(self, model, rows):
        started = time.monotonic()
        self._write(model, rows)
        self.seconds[model._meta.db_table] = self.seconds.get(model._meta.db_table, 0.0) + time.monotonic() - started

    def _write(self, model, rows):
        raise NotImplementedError


class CopyWriter(Writer):
    """PostgreSQL COPY FROM STDIN (psycopg 3): several times faster than INSERT."""

    def _write(self, model, rows):
        if not rows:
            return
        attnames, columns, defaults = self._layout(model, rows)
        quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
            for values in self._values(attnames, defaults, rows):
                copy.write_row(values)


class OrmWriter(Writer):
    """bulk_create, for any database (and for comparing with COPY)."""

    def __init__(self, models, batch_size):
        super().__init__(models)
        self.batch_size = batch_size

    def _write(self, model, rows):
        attnames, _, defaults = self._layout(model, rows)
        objects = [
            model(**dict(zip(attnames, values, strict=True))) for values in self._values(attnames, defaults, rows)
        ]
        model.objects.bulk_create(objects, batch_size=self.batch_size)


@contextmanager
def _explicit_timestamps(*models):
    """bulk_create runs pre_save, which stamps auto_now/auto_now_add fields with the current time; the
    generated history brings its own timestamps, so switch that off while inserting."""
    saved = []
    for model in models:
        for f in model._meta.concrete_fields:
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                saved.append((f, f.auto_now, f.auto_now_add))
                f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


def reserve_ids(model, count: int) -> int:
    """Reserve `count` consecutive primary keys and return the first. On PostgreSQL the sequence is moved
    past them at once, so rows inserted meanwhile by the running site take other ids."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The table name comes from the model.
            sql = (
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), "  # noqa: S608
                "GREATEST(nextval(pg_get_serial_sequence(%s, 'id')) + %s - 1, "
                f"(SELECT COALESCE(MAX(id), 0) FROM {connection.ops.quote_name(table)}) + %s))"
            )
            cursor.execute(sql, [table, table, count, count])
            return cursor.fetchone()[0] - count + 1
    return (model.objects.aggregate(m=Max("id"))["m"] or 0) + 1


# --- The command ---------------------------------------------------------------------------------------


class Command(BaseCommand):
    help = (
        "Add N realistic demo members with their periods and payments (bulk: COPY on PostgreSQL). "
        f"Every generated account's password is {DEMO_PASSWORD!r}."
    )

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=1000, help="How many members to add (default 1000).")
        parser.add_argument("--seed", type=int, default=2026, help="Random seed (default 2026).")
        parser.add_argument("--batch-size", type=int, default=10_000, help="Members per insert batch.")
        parser.add_argument(
            "--method",
            choices=["auto", "copy", "orm"],
            default="auto",
            help="copy: PostgreSQL COPY; orm: bulk_create; auto: copy on PostgreSQL, else orm.",
        )
        parser.add_argument(
            "--defer-indexes",
            choices=["auto", "yes", "no"],
            default="auto",
            help="Drop the non-unique indexes of the three big tables during the load and rebuild them after, "
            "in the same transaction (PostgreSQL; auto: when the load at least doubles the members table "
            "and adds 50,000 or more).",
        )
        parser.add_argument("--no-analyze", action="store_true", help="Skip VACUUM ANALYZE afterwards.")
        parser.add_argument("--force", action="store_true", help="Run even when DEBUG is off.")

    def handle(self, *args, **options):
        count = options["members"]
        if count < 1:
            raise CommandError("--members must be at least 1.")
        if not settings.DEBUG and not options["force"]:
            raise CommandError("This adds demo members and payments; DEBUG is off. Add --force if you mean it.")
        method = options["method"]
        if method == "auto":
            method = "copy" if connection.vendor == "postgresql" else "orm"
        if method == "copy" and connection.vendor != "postgresql":
            raise CommandError("--method copy needs PostgreSQL.")
        batch_size = max(1, options["batch_size"])
        verbose = options["verbosity"] > 0

        if not (Country.objects.exists() and Region.objects.exists() and MembershipCategory.objects.exists()):
            call_command("setup_demo", "--no-demo", verbosity=0)
        categories = list(MembershipCategory.objects.order_by("pk"))
        regions = list(Region.objects.all())
        countries = set(Country.objects.values_list("pk", flat=True))
        if "KE" not in countries:
            raise CommandError("Kenya (KE) is missing from the countries reference data.")
        member_group = Group.objects.get_or_create(name=MEMBER)[0]

        started = time.monotonic()
        password_hash = make_password(DEMO_PASSWORD)  # once: hashing is slow by design
        User = get_user_model()
        Through = User.groups.through
        pre_existing = User.objects.exists()
        now = timezone.localtime(timezone.now(), zoneinfo.ZoneInfo(settings.TIME_ZONE))
        stats = Stats()
        deferred: list[tuple[str, str]] = []
        timings = {}

        with transaction.atomic():
            seq = self._lock_sequences(now)
            # A different stream per run (after the last id), the same for the same seed and database state.
            anchor = (Member.objects.aggregate(m=Max("id"))["m"] or 0) + 1
            rng = random.Random(f"{options['seed']}:{anchor}")  # noqa: S311 - demo data, not secrets
            data = DemoData(
                rng=rng,
                now=now,
                count=count,
                categories=categories,
                regions=regions,
                countries=countries,
                password_hash=password_hash,
                member_group_id=member_group.pk,
                seq=seq,
                taken=None,
            )
            first_user, first_member = reserve_ids(User, count), reserve_ids(Member, count)
            data.taken = self._taken_values(first_member, count)
            if connection.vendor == "postgresql":
                # Check foreign keys row by row as they arrive: Django's are DEFERRABLE INITIALLY DEFERRED, and
                # millions of deferred checks queue up in the server's memory (and block CREATE INDEX).
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                if self._defer(options["defer_indexes"], count, method):
                    deferred = self._drop_indexes_and_foreign_keys([User, Through, Member, Payment])
            writer = (
                CopyWriter([User, Member, Payment, Through])
                if method == "copy"
                else OrmWriter([User, Member, Payment, Through], batch_size=min(batch_size, 2000))
            )
            progress = Progress(count, "members", stream=getattr(self.stderr, "_out", None), enabled=verbose)
            done = 0
            with _explicit_timestamps(User, Member, Payment):
                for batch in _generated_batches(data, count, batch_size, first_user, first_member, stats):
                    self._write_batch(data, writer, batch, User, Through, pre_existing)
                    done += len(batch.members)
                    progress.update(done, f"payments {stats.payments:,}")
            timings["insert"] = time.monotonic() - started
            timings.update({f"  writing {table}": seconds for table, seconds in writer.seconds.items()})
            self._save_sequences(seq)
            if deferred:
                rebuild = time.monotonic()
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
                    if verbose:
                        self.stderr.write(f"Rebuilding {len(deferred)} indexes, unique constraints and foreign keys")
                    for name, definition in deferred:
                        if options["verbosity"] > 1:
                            self.stderr.write(f"  {name}")
                        cursor.execute(definition)
                timings["indexes and foreign keys"] = time.monotonic() - rebuild
        timings["commit"] = time.monotonic() - started
        if connection.vendor == "postgresql" and not options["no_analyze"]:
            analyse = time.monotonic()
            # VACUUM too (not possible inside a transaction, e.g. a test's): it sets the visibility map, as
            # autovacuum would later, so that counts can use index-only scans from the start.
            statement = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
            with connection.cursor() as cursor:
                for model in (User, Through, Member, Payment, YearlyCounter):
                    cursor.execute(f"{statement} {connection.ops.quote_name(model._meta.db_table)}")
            timings[statement.lower().replace("(", "").replace(")", "")] = time.monotonic() - analyse
        elapsed = time.monotonic() - started
        if verbose:
            self._report(stats, elapsed, timings, method, deferred)

    # --- pieces ---

    def _defer(self, choice, count, method):
        if choice == "no" or method != "copy":
            return False
        if choice == "yes":
            return True
        existing = Member.objects.count()
        return count >= 50_000 and count >= existing

    def _drop_indexes_and_foreign_keys(self, models):
        """Drop every index but the primary keys, the unique constraints and the foreign keys of the tables
        being loaded, and return what re-creates them: PostgreSQL's advice for bulk loads ("Populating a
        Database"). Building an index once is much faster than updating it row by row (the unique ones are
        checked when they are built), and re-adding a foreign key checks every row in one join instead of one
        lookup per row. All in the load's transaction: a failure puts everything back as it was."""
        quote = connection.ops.quote_name
        drops, constraints, indexes, foreign_keys = [], [], [], []
        with connection.cursor() as cursor:
            for model in models:
                table = model._meta.db_table
                cursor.execute(
                    "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE contype IN ('f', 'u') AND conrelid = %s::regclass ORDER BY contype, conname",
                    [table],
                )
                for name, kind, definition in cursor.fetchall():
                    drops.append(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
                    add = f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}"
                    (foreign_keys if kind == "f" else constraints).append((f"constraint {name}", add))
                cursor.execute(
                    """
                    SELECT c.relname, pg_get_indexdef(i.indexrelid)
                    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                    WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
                      AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
                    ORDER BY c.relname
                    """,
                    [table],
                )
                for name, definition in cursor.fetchall():
                    drops.append(f"DROP INDEX {quote(name)}")
                    indexes.append((f"index {name}", definition))
            for statement in drops:
                cursor.execute(statement)
        return constraints + indexes + foreign_keys

    def _lock_sequences(self, now) -> Sequences:
        """Lock the counter rows of every year the history can touch (real approvals wait for the run), and
        continue from the larger of the counter and the largest number already used that year."""
        prefix = settings.MEMBERSHIP_NUMBER_PREFIX
        years = range(now.year - YEARS - 1, now.year + 1)
        seq = Sequences(prefix=prefix)
        for counter_prefix, target, model, column in (
            (prefix, seq.numbers, Member, "membership_number"),
            (RECEIPT_PREFIX, seq.receipts, Payment, "receipt_number"),
        ):
            YearlyCounter.objects.bulk_create(
                [YearlyCounter(prefix=counter_prefix, year=y, last_value=0) for y in years], ignore_conflicts=True
            )
            counters = YearlyCounter.objects.select_for_update().filter(prefix=counter_prefix, year__in=list(years))
            for counter in counters:
                target[counter.year] = counter.last_value
            used = self._largest_used(model, column, counter_prefix)
            for year, value in used.items():
                target[year] = max(target.get(year, 0), value)
            for year in years:
                target.setdefault(year, 0)
        return seq

    def _largest_used(self, model, column, prefix) -> dict[int, int]:
        """{year: largest number} among '<prefix>-<year>-<n>' values in the table (normally the counter's)."""
        table, col = connection.ops.quote_name(model._meta.db_table), connection.ops.quote_name(column)
        start = len(prefix) + 2  # 1-based position of the year
        with connection.cursor() as cursor:
            # Table and column names come from the model.
            sql = (
                f"SELECT SUBSTR({col}, {start}, 4), MAX(CAST(SUBSTR({col}, {start + 5}) AS INTEGER)) "  # noqa: S608
                f"FROM {table} WHERE {col} LIKE %s ESCAPE '\\' GROUP BY SUBSTR({col}, {start}, 4)"
            )
            cursor.execute(sql, [prefix.replace("%", r"\%").replace("_", r"\_") + "-____-%"])
            return {int(year): int(value) for year, value in cursor.fetchall() if year.isdigit() and value is not None}

    def _save_sequences(self, seq: Sequences):
        for counter_prefix, values in ((seq.prefix, seq.numbers), (RECEIPT_PREFIX, seq.receipts)):
            for year, value in values.items():
                YearlyCounter.objects.filter(prefix=counter_prefix, year=year, last_value__lt=value).update(
                    last_value=value
                )

    def _write_batch(self, data: DemoData, writer, batch, User, Through, pre_existing):
        if pre_existing:
            self._avoid_existing_emails(batch)
        payments = batch.payments
        first_payment = reserve_ids(Payment, len(payments)) if payments else 0
        for offset, payment in enumerate(payments):
            _finish_payment(payment, first_payment + offset, data.banks)
        writer.write(User, batch.users)
        writer.write(Through, [{"user_id": u["id"], "group_id": data.member_group_id} for u in batch.users])
        writer.write(Member, batch.members)
        writer.write(Payment, payments)

    def _taken_values(self, first_member, count) -> TakenValues:
        """One pass over the members already there (none on a first run)."""
        taken = TakenValues(first_member, count)
        rows = Member.objects.order_by().values_list("phone_number", "id_type", "id_number")
        for phone, id_type, id_number in rows.iterator(chunk_size=20_000):
            taken.add("phone", phone)
            if id_type in TakenValues.SPACES:
                taken.add(id_type, id_number)
        return taken

    def _avoid_existing_emails(self, batch: Batch):
        """Emails carry the new user's id, so they never repeat generated ones; a hand-made account may
        hold one anyway (the unique index answers quickly)."""
        User = get_user_model()
        emails = [u["email"] for u in batch.users]
        taken = set()
        for start in range(0, len(emails), 2000):
            chunk = emails[start : start + 2000]
            taken.update(User.objects.filter(email__in=chunk).values_list("email", flat=True))
        if not taken:
            return
        members = {m["user_id"]: m for m in batch.members}
        for user in batch.users:
            if user["email"] not in taken:
                continue
            local, domain = user["email"].split("@")
            user["email"] = _first_free(
                (f"{local}x{n}@{domain}" for n in range(1, 1000)),
                lambda value: User.objects.filter(email=value).exists(),
            )
            member = members[user["id"]]
            member["search_text"] = build_search_text(
                SimpleNamespace(
                    user=SimpleNamespace(
                        first_name=user["first_name"], last_name=user["last_name"], email=user["email"]
                    ),
                    other_names=member["other_names"],
                    membership_number=member["membership_number"],
                    id_number=member["id_number"],
                    phone_number=member["phone_number"],
                )
            )

    def _report(self, stats: Stats, elapsed, timings, method, deferred):
        out = self.stdout
        out.write(
            f"Added {stats.members:,} members and {stats.payments:,} payments in {elapsed:,.1f}s "
            f"({stats.members / elapsed:,.0f} members/s; method {method}"
            + (f", {len(deferred)} indexes, unique constraints and foreign keys rebuilt" if deferred else "")
            + ")."
        )
        out.write("  " + ", ".join(f"{k} {v:,.1f}s" for k, v in timings.items()))
        out.write(
            "  members: " + ", ".join(f"{k} {v:,}" for k, v in sorted(stats.statuses.items(), key=lambda kv: -kv[1]))
        )
        out.write(
            "  payments: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(stats.payment_statuses.items(), key=lambda kv: -kv[1]))
        )
        out.write(self.style.SUCCESS(f"Every generated member can log in with the password {DEMO_PASSWORD!r}."))
