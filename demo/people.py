"""Names and places for demo members: Kenyan names by community, counties, estates and streets, occupations,
employers and universities, and the reasons staff give when they reject or suspend someone.

Plain data and one small dataclass; demo.histories picks from these lists with Zipf-like weights.
"""

from __future__ import annotations

from dataclasses import dataclass

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
