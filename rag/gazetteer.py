"""Names of countries and of US states, as English-language news writes them.

Short answers use them to tell a country or a state from other capitalised words when a question
asks "which country" or "which state". ISO 3166 (pycountry) names are the official forms
("Korea, Republic of", "Russian Federation"), which news rarely writes, so the list is kept here.
"""

from __future__ import annotations

import re

__all__ = ["COUNTRIES", "DEMONYMS", "US_STATES", "is_country", "is_demonym", "is_us_state"]


def _names(text: str) -> frozenset[str]:
    return frozenset(name.strip().casefold() for name in text.split(";") if name.strip())


COUNTRIES = _names(
    """Afghanistan; Albania; Algeria; Andorra; Angola; Antigua and Barbuda; Argentina; Armenia; Australia;
    Austria; Azerbaijan; Bahamas; Bahrain; Bangladesh; Barbados; Belarus; Belgium; Belize; Benin; Bhutan;
    Bolivia; Bosnia and Herzegovina; Bosnia-Herzegovina; Bosnia; Botswana; Brazil; Brunei; Bulgaria; Burkina Faso; Burundi;
    Cambodia; Cameroon; Canada; Cape Verde; Central African Republic; Chad; Chile; China; Colombia; Comoros;
    Congo; Democratic Republic of the Congo; Democratic Republic of Congo; DR Congo; Costa Rica; Ivory Coast; Côte d'Ivoire; Croatia; Cuba; Cyprus;
    Czech Republic; Czechia; Denmark; Djibouti; Dominica; Dominican Republic; East Timor; Timor-Leste; Ecuador;
    Egypt; El Salvador; Equatorial Guinea; Eritrea; Estonia; Eswatini; Swaziland; Ethiopia; Fiji; Finland;
    France; Gabon; Gambia; Georgia; Germany; Ghana; Greece; Grenada; Guatemala; Guinea; Guinea-Bissau; Guyana;
    Haiti; Honduras; Hungary; Iceland; India; Indonesia; Iran; Iraq; Ireland; Israel; Italy; Jamaica; Japan;
    Jordan; Kazakhstan; Kenya; Kiribati; Kosovo; Kuwait; Kyrgyzstan; Laos; Latvia; Lebanon; Lesotho; Liberia;
    Libya; Liechtenstein; Lithuania; Luxembourg; Madagascar; Malawi; Malaysia; Maldives; Mali; Malta;
    Marshall Islands; Mauritania; Mauritius; Mexico; Micronesia; Moldova; Monaco; Mongolia; Montenegro; Morocco;
    Mozambique; Myanmar; Burma; Namibia; Nauru; Nepal; Netherlands; Holland; New Zealand; Nicaragua; Niger;
    Nigeria; North Korea; North Macedonia; Macedonia; Norway; Oman; Pakistan; Palau; Palestine; Panama;
    Papua New Guinea; Paraguay; Peru; Philippines; Poland; Portugal; Qatar; Romania; Russia; Rwanda;
    Saint Kitts and Nevis; Saint Lucia; Saint Vincent and the Grenadines; Samoa; San Marino;
    Sao Tome and Principe; Saudi Arabia; Senegal; Serbia; Seychelles; Sierra Leone; Singapore; Slovakia;
    Slovenia; Solomon Islands; Somalia; South Africa; South Korea; Korea; South Sudan; Spain; Sri Lanka; Sudan;
    Suriname; Sweden; Switzerland; Syria; Taiwan; Tajikistan; Tanzania; Thailand; Togo; Tonga;
    Trinidad and Tobago; Tunisia; Turkey; Türkiye; Turkiye; Turkmenistan; Tuvalu; Uganda; Ukraine; United Arab Emirates;
    UAE; United Kingdom; UK; U.K.; U.K; Britain; Great Britain; England; Scotland; Wales; Northern Ireland;
    United States; United States of America; US; U.S.; U.S; USA; America; Uruguay; Uzbekistan; Vanuatu;
    Vatican City; Vatican; Venezuela; Vietnam; Yemen; Zambia; Zimbabwe; Greenland; Hong Kong; Puerto Rico"""
)
"""Sovereign states, and the nations and territories news calls countries (England, Greenland)."""

US_STATES = _names(
    """Alabama; Alaska; Arizona; Arkansas; California; Colorado; Connecticut; Delaware; Florida; Georgia;
    Hawaii; Idaho; Illinois; Indiana; Iowa; Kansas; Kentucky; Louisiana; Maine; Maryland; Massachusetts;
    Michigan; Minnesota; Mississippi; Missouri; Montana; Nebraska; Nevada; New Hampshire; New Jersey;
    New Mexico; New York; North Carolina; North Dakota; Ohio; Oklahoma; Oregon; Pennsylvania; Rhode Island;
    South Carolina; South Dakota; Tennessee; Texas; Utah; Vermont; Virginia; Washington; West Virginia;
    Wisconsin; Wyoming"""
)


DEMONYMS = _names(
    """American; British; English; Scottish; Welsh; Irish; French; German; Italian; Spanish; Portuguese; Dutch;
    Belgian; Swiss; Austrian; Swedish; Norwegian; Danish; Finnish; Icelandic; Polish; Czech; Slovak; Hungarian;
    Romanian; Bulgarian; Greek; Serbian; Croatian; Bosnian; Albanian; Russian; Ukrainian; Belarusian;
    Lithuanian; Latvian; Estonian; Turkish; Armenian; Azerbaijani; Kazakh; Uzbek; Chinese; Japanese; Korean;
    Taiwanese; Mongolian; Vietnamese; Thai; Cambodian; Burmese; Malaysian; Singaporean; Indonesian; Filipino;
    Australian; Indian; Pakistani; Bangladeshi; Afghan; Iranian; Iraqi; Syrian; Lebanese; Israeli;
    Palestinian; Jordanian; Saudi; Yemeni; Qatari; Emirati; Egyptian; Libyan; Tunisian; Algerian; Moroccan;
    Nigerian; Ghanaian; Kenyan; Ethiopian; Somali; Sudanese; Ugandan; Rwandan; Congolese; Zimbabwean;
    Canadian; Mexican; Cuban; Haitian; Jamaican; Guatemalan; Honduran; Salvadoran; Nicaraguan; Panamanian;
    Colombian; Venezuelan; Peruvian; Ecuadorian; Bolivian; Chilean; Argentine; Argentinian; Uruguayan;
    Paraguayan; Brazilian; African; European; Asian; Arab; Latin; Latino; Latina; Hispanic; Western; Eastern;
    Northern; Southern; Muslim; Christian; Jewish; Hindu; Buddhist; Sikh; Catholic; Protestant; Black; White"""
)
"""Words for a people or a region's, which news capitalises but which name no person or place."""


def _key(text: str) -> str:
    text = re.sub(r"[’']s$", "", text.strip()).casefold()
    return text[4:] if text.startswith("the ") else text


def is_country(text: str) -> bool:
    """Whether `text` names a country ("the Philippines", "UK")."""
    return _key(text) in COUNTRIES


def is_us_state(text: str) -> bool:
    """Whether `text` names a US state ("New York" does; "New York City" does not)."""
    return _key(text) in US_STATES


def is_demonym(text: str) -> bool:
    """Whether `text` is a word for a people ("British", "Chinese", "Americans"), not a name."""
    key = _key(text)
    return key in DEMONYMS or (key.endswith("s") and key[:-1] in DEMONYMS)
