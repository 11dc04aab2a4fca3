"""Numbers people text, age with a symptom, and clinical combinations: a table, every language.

Each positive row names the lowest acceptable level and a rule id or category that must be among
the hits, so a message cannot pass by tripping some unrelated rule. Negative rows are normal
readings and harmless look-alikes that must stay at or below a level.
"""

from __future__ import annotations

import pytest

from safety.triage import assess, load_rules
from safety.types import TriageLevel

E = "emergency"
U = "urgent"

# (message, language, minimum level, rule id or category expected among the hits)
POSITIVE: list[tuple[str, str, str, str]] = [
    # --- blood pressure: 180/120 or more is urgent alone, an emergency with symptoms
    ("my bp is 185/125 and I have a pounding headache", "en", E, "hypertensive_emergency"),
    ("mum's blood pressure 200/120, she's confused", "en", E, "hypertensive_emergency"),
    ("BP: 190/110 and my vision is blurry", "en", E, "hypertensive_emergency"),
    ("bp 210 over 115 and short of breath", "en", E, "hypertensive_emergency"),
    ("took my BP, it's 180/120. feel fine otherwise", "en", U, "severe_hypertension"),
    ("bp 176/124 at the pharmacy", "en", U, "severe_hypertension"),
    (
        "my papa BP don reach 190/120 and him head dey pain am well well",
        "en",
        E,
        "hypertensive_emergency",
    ),
    ("mi presión está en 190/120 y me duele mucho la cabeza", "es", E, "hypertensive_emergency"),
    ("presión arterial 180/120, me siento bien", "es", U, "severe_hypertension"),
    (
        "minha pressão deu 19 por 12 e estou com dor de cabeça forte",
        "pt",
        E,
        "hypertensive_emergency",
    ),
    ("pressão 18 por 12 hoje", "pt", U, "severe_hypertension"),
    ("tension à 19/12 avec mal de tête et vision floue", "fr", E, "hypertensive_emergency"),
    ("ma tension est à 180/120 ce matin", "fr", U, "severe_hypertension"),
    ("presha yangu ni 190/120 na kichwa kinauma sana", "sw", E, "hypertensive_emergency"),
    ("shinikizo la damu 185/125 leo", "sw", U, "severe_hypertension"),
    ("papa ka bp 200/120 hai aur seene me dard", "hi", E, "hypertensive_emergency"),
    ("BP 190/120 aa raha hai, sar dard bhi ho raha hai", "hi", E, "hypertensive_emergency"),
    ("मेरा बीपी 180/120 है", "hi", U, "severe_hypertension"),
    # --- oxygen saturation: 92% or less is an emergency, 93-94% urgent
    ("oxygen sats 89% on the pulse oximeter", "en", E, "low_oxygen"),
    ("SpO2: 91 %", "en", E, "low_oxygen"),
    ("her oxygen level is 94%", "en", U, "borderline_oxygen"),
    ("sats 93 on room air", "en", U, "borderline_oxygen"),
    ("la saturación de oxígeno está en 88%", "es", E, "low_oxygen"),
    ("el oxímetro marca 93", "es", U, "borderline_oxygen"),
    ("saturação 90%", "pt", E, "low_oxygen"),
    ("oxigenação 94 no oxímetro", "pt", U, "borderline_oxygen"),
    ("saturation à 89 %", "fr", E, "low_oxygen"),
    ("sa saturation est à 93", "fr", U, "borderline_oxygen"),
    ("oksijeni iko 88", "sw", E, "low_oxygen"),
    ("kiwango cha oksijeni ni 94", "sw", U, "borderline_oxygen"),
    ("oxygen level 90 aa raha hai", "hi", E, "low_oxygen"),
    ("ऑक्सीजन 93 है", "hi", U, "borderline_oxygen"),
    # --- blood sugar: very high with symptoms, very low at any time
    ("sugar 450 mg/dl and he keeps vomiting", "en", E, "hyperglycaemia_danger"),
    ("glucometer just says HI and she's really drowsy", "en", E, "hyperglycaemia_danger"),
    ("blood sugar 22.5 mmol and breathing fast", "en", E, "hyperglycaemia_danger"),
    ("my sugar is 350 today", "en", U, "very_high_sugar"),
    ("the meter reads HI", "en", U, "very_high_sugar"),
    ("la glucosa está en 480 y vomita mucho", "es", E, "hyperglycaemia_danger"),
    ("el glucómetro marca HI y está muy somnolienta", "es", E, "hyperglycaemia_danger"),
    ("glicemia 500 e vomitando", "pt", E, "hyperglycaemia_danger"),
    ("a glicose deu HI no aparelho e ela está confusa", "pt", E, "hyperglycaemia_danger"),
    ("glycémie à 4,5 g/l et il vomit", "fr", E, "hyperglycaemia_danger"),
    ("glycémie 25 mmol/l et il respire vite", "fr", E, "hyperglycaemia_danger"),
    ("sukari 25 mmol na anatapika", "sw", E, "hyperglycaemia_danger"),
    ("sukari ni 400 na amechanganyikiwa", "sw", E, "hyperglycaemia_danger"),
    ("sugar 500 hai aur ulti ho rahi hai", "hi", E, "hyperglycaemia_danger"),
    ("शुगर 450 है और बहुत नींद आ रही है", "hi", E, "hyperglycaemia_danger"),
    ("sugar 45 mg/dl", "en", E, "very_low_sugar"),
    ("bg 2.4 mmol", "en", E, "very_low_sugar"),
    ("blood sugar 62 and he's really confused", "en", E, "hypoglycaemia_severe"),
    ("his sugar is 3.5 and he is very drowsy", "en", E, "hypoglycaemia_severe"),
    ("glucosa de 40", "es", E, "very_low_sugar"),
    ("azúcar 2,5 mmol", "es", E, "very_low_sugar"),
    ("glicemia 48", "pt", E, "very_low_sugar"),
    ("glicose 60 e ela está confusa", "pt", E, "hypoglycaemia_severe"),
    ("glycémie à 0,45 g/l", "fr", E, "very_low_sugar"),
    ("glycémie 45 mg/dl", "fr", E, "very_low_sugar"),
    ("sukari 2.5", "sw", E, "very_low_sugar"),
    ("sukari iko 40", "sw", E, "very_low_sugar"),
    ("sugar 40 aa gayi", "hi", E, "very_low_sugar"),
    ("शुगर 50 है", "hi", E, "very_low_sugar"),
    # --- temperature: any fever under 3 months; 40C with confusion, stiff neck or rash
    ("my 6 week old has a temp of 38.2", "en", E, "fever_young_infant"),
    ("newborn temperature 38.5", "en", E, "fever_young_infant"),
    ("mi bebé de 5 semanas tiene 38,3 de fiebre", "es", E, "fever_young_infant"),
    ("bebê de 1 mês com febre de 38", "pt", E, "fever_young_infant"),
    ("mon bébé de 3 semaines a 38,5", "fr", E, "fever_young_infant"),
    ("mtoto mchanga ana homa 38.5", "sw", E, "fever_young_infant"),
    ("15 din ke baby ko 38.4 bukhar hai", "hi", E, "fever_young_infant"),
    ("temp 40.3 and he's not making sense", "en", E, "fever_confusion"),
    ("fever 40.5 with a rash all over", "en", E, "very_high_fever_danger"),
    ("fiebre de 40 y sarpullido en todo el cuerpo", "es", E, "very_high_fever_danger"),
    ("febre de 40 e manchas vermelhas no corpo", "pt", E, "very_high_fever_danger"),
    ("40 de fièvre et des boutons partout", "fr", E, "very_high_fever_danger"),
    ("homa 40 na vipele mwili mzima", "sw", E, "very_high_fever_danger"),
    ("40 degree bukhar aur daane nikal aaye", "hi", E, "very_high_fever_danger"),
    ("fièvre à 40 et la nuque raide", "fr", E, "meningitis_signs"),
    ("my 4 month old baby has a temperature of 39.2", "en", U, "infant_fever_39"),
    # --- age with a symptom
    ("grandad is 82 and suddenly confused and has a fever", "en", E, "fever_confusion"),
    ("my 80 year old mum fell and now she's confused", "en", E, "collapse_confusion"),
    ("my 2 year old is breathing really fast and won't drink", "en", E, "child_not_drinking"),
    ("my 3 month old is breathing very fast", "en", E, "infant_fast_breathing"),
    ("mi abuela de 85 años está confundida y tiene fiebre", "es", E, "fever_confusion"),
    ("bibi yangu ameanguka na sasa amechanganyikiwa", "sw", E, "collapse_confusion"),
    ("dadi gir gayi aur ab ulta seedha bol rahi hai", "hi", E, "collapse_confusion"),
    ("mtoto wa miezi 2 anapumua haraka sana", "sw", E, "infant_fast_breathing"),
    ("6 mahine ka baccha bahut tez saans le raha hai", "hi", E, "infant_fast_breathing"),
    # --- fever after surgery, delivery, miscarriage or abortion (sepsis)
    (
        "I had my c-section 5 days ago and now I have a fever of 38.6 and shivering",
        "en",
        E,
        "postpartum_fever",
    ),
    ("fever after my miscarriage last week", "en", E, "postpartum_fever"),
    (
        "had an abortion 3 days ago, now high temperature and smelly discharge",
        "en",
        E,
        "postpartum_fever",
    ),
    ("high temp 2 days after my knee operation", "en", E, "postop_fever"),
    ("I born pikin 4 days ago, my body dey hot well well", "en", E, "postpartum_fever"),
    ("tengo fiebre después del parto", "es", E, "postpartum_fever"),
    ("fiebre después de la cirugía de vesícula", "es", E, "postop_fever"),
    ("tuve un aborto hace 4 días y ahora tengo fiebre", "es", E, "postpartum_fever"),
    ("estou com febre depois do parto", "pt", E, "postpartum_fever"),
    ("febre alta depois da cirurgia", "pt", E, "postop_fever"),
    ("febre depois de um aborto espontâneo", "pt", E, "postpartum_fever"),
    ("de la fièvre depuis l'accouchement", "fr", E, "postpartum_fever"),
    ("fièvre après mon opération de l'appendicite", "fr", E, "postop_fever"),
    ("fièvre après une fausse couche", "fr", E, "postpartum_fever"),
    ("nina homa baada ya kujifungua", "sw", E, "postpartum_fever"),
    ("ana homa kali baada ya upasuaji", "sw", E, "postop_fever"),
    ("homa baada ya mimba kuharibika", "sw", E, "postpartum_fever"),
    ("delivery ke baad tez bukhar hai", "hi", E, "postpartum_fever"),
    ("operation ke baad bukhar aa raha hai", "hi", E, "postop_fever"),
    ("गर्भपात के बाद बुखार है", "hi", E, "postpartum_fever"),
    # --- overdose by count or by drug
    ("took 30 of my xanax", "en", E, "overdose"),
    ("my son swallowed a whole pack", "en", E, "overdose"),
    ("I think I injected too much insulin", "en", E, "overdose"),
    ("she took all my mum's pills", "en", E, "overdose"),
    ("accidentally took a double dose of my warfarin", "en", E, "overdose"),
    ("I don swallow plenty tablets", "en", E, "overdose"),
    ("took paracetamol all week and now my eyes are yellow", "en", E, "paracetamol_toxicity"),
    ("confused after taking paracetamol", "en", E, "paracetamol_toxicity"),
    ("se tomó 20 pastillas de clonazepam", "es", E, "overdose"),
    ("me inyecté demasiada insulina", "es", E, "overdose"),
    ("se tomó todas las pastillas de mi mamá", "es", E, "overdose"),
    ("tomou 30 comprimidos de rivotril", "pt", E, "overdose"),
    ("apliquei insulina demais", "pt", E, "overdose"),
    ("tomou todos os remédios da minha mãe", "pt", E, "overdose"),
    ("il a avalé 20 comprimés de doliprane", "fr", E, "overdose"),
    ("je me suis injecté trop d'insuline", "fr", E, "overdose"),
    ("elle a pris toute la boîte de somnifères", "fr", E, "overdose"),
    ("amemeza vidonge 20 vya usingizi", "sw", E, "overdose"),
    ("amejidunga insulini nyingi", "sw", E, "overdose"),
    ("amemeza dawa zote za mama", "sw", E, "overdose"),
    ("usne neend ki 20 goliyan kha li", "hi", E, "overdose"),
    ("insulin zyada laga liya", "hi", E, "overdose"),
    ("mummy ki saari goliyan kha li", "hi", E, "overdose"),
    ("paracetamol ke baad aankhen peeli ho gayi", "hi", E, "paracetamol_toxicity"),
    # --- diabetic ketoacidosis
    ("my daughter is type 1, vomiting, tummy pain and breathing really deep", "en", E, "dka_triad"),
    ("diabetic, been sick all night with stomach pain and very sleepy", "en", E, "dka_triad"),
    ("his breath smells fruity and he's vomiting", "en", E, "dka_signs"),
    ("mi hijo es diabético, vomita y le duele la barriga", "es", E, "dka_triad"),
    ("sou diabético, vomitando, com dor de barriga e muita sonolência", "pt", E, "dka_triad"),
    ("mon fils diabétique vomit et a mal au ventre", "fr", E, "dka_triad"),
    ("mtoto wangu ana kisukari, anatapika na tumbo linauma", "sw", E, "dka_triad"),
    ("beti ko sugar hai, ulti aur pet dard ho raha hai", "hi", E, "dka_triad"),
    # --- IMCI general danger signs
    ("baby won't breastfeed at all", "en", E, "child_not_drinking"),
    ("toddler vomits everything he drinks", "en", E, "child_vomits_everything"),
    ("el bebé no quiere tomar pecho", "es", E, "child_not_drinking"),
    ("bebê não consegue mamar", "pt", E, "child_not_drinking"),
    ("mon bébé ne tète plus", "fr", E, "child_not_drinking"),
    ("mtoto hawezi kunyonya", "sw", E, "child_not_drinking"),
    ("mtoto anatapika kila kitu", "sw", E, "child_vomits_everything"),
    ("mtoto ana degedege", "sw", E, "seizure"),
    ("mtoto amelegea sana haamki vizuri", "sw", E, "child_lethargic"),
    ("mtoto hanywi chochote tangu jana", "sw", E, "child_not_drinking"),
    ("baccha doodh nahi pi raha", "hi", E, "child_not_drinking"),
    ("बच्चा दूध नहीं पी रहा", "hi", E, "child_not_drinking"),
    ("bachcha jo bhi khata hai ulti kar deta hai", "hi", E, "child_vomits_everything"),
    ("baby ko jhatke aa rahe hain", "hi", E, "seizure"),
    ("bachcha bilkul sust pad gaya hai", "hi", E, "child_lethargic"),
    ("बच्चा बहुत सुस्त है, उठ नहीं रहा", "hi", E, "child_lethargic"),
    # --- maternal danger signs (WHO)
    ("I'm 30 weeks pregnant and bleeding heavily", "en", E, "pregnancy_bleeding"),
    ("pregnant, severe headache and blurred vision", "en", E, "pregnancy_preeclampsia"),
    ("I'm 34 weeks and my waters broke", "en", E, "pregnancy_waters"),
    ("pregnant with a fever and too weak to get out of bed", "en", E, "pregnancy_fever_weak"),
    ("32 weeks pregnant and baby moving less", "en", E, "reduced_fetal_movement"),
    ("I get belle of 7 months and blood dey comot", "en", E, "pregnancy_bleeding"),
    ("my belle water don break and I be 8 months", "en", E, "pregnancy_waters"),
    ("estoy embarazada de 30 semanas y sangro mucho", "es", E, "pregnancy_bleeding"),
    ("embarazada de 33 semanas y se me rompió la fuente", "es", E, "pregnancy_waters"),
    ("embarazada, dolor de cabeza fuerte y veo borroso", "es", E, "pregnancy_preeclampsia"),
    ("embarazada con fiebre y tan débil que no me puedo levantar", "es", E, "pregnancy_fever_weak"),
    ("grávida de 30 semanas com sangramento", "pt", E, "pregnancy_bleeding"),
    ("minha bolsa estourou com 32 semanas", "pt", E, "pregnancy_waters"),
    ("grávida e o bebê está mexendo menos", "pt", E, "reduced_fetal_movement"),
    ("enceinte de 28 semaines et je saigne beaucoup", "fr", E, "pregnancy_bleeding"),
    ("j'ai perdu les eaux à 34 semaines", "fr", E, "pregnancy_waters"),
    ("enceinte, le bébé bouge moins depuis hier", "fr", E, "reduced_fetal_movement"),
    ("mjamzito na natokwa na damu nyingi ukeni", "sw", E, "pregnancy_bleeding"),
    ("nina mimba ya wiki 32 na maji yamepasuka", "sw", E, "pregnancy_waters"),
    ("mjamzito, kichwa kinauma sana na naona ukungu", "sw", E, "pregnancy_preeclampsia"),
    ("mjamzito na mtoto hachezi tumboni tangu jana", "sw", E, "reduced_fetal_movement"),
    ("mjamzito ana homa na hawezi kuamka kitandani", "sw", E, "pregnancy_fever_weak"),
    ("mjamzito anapumua kwa shida", "sw", E, "breathing_difficulty"),
    ("mjamzito ana maumivu makali ya tumbo", "sw", E, "severe_abdominal_pain"),
    ("mjamzito amepata degedege", "sw", E, "seizure"),
    ("pregnant hoon aur bahut khoon aa raha hai", "hi", E, "pregnancy_bleeding"),
    ("7 mahine ki pregnancy hai, pani ki thaili phat gayi", "hi", E, "pregnancy_waters"),
    (
        "garbhvati hoon, sar mein tez dard aur dhundhla dikh raha hai",
        "hi",
        E,
        "pregnancy_preeclampsia",
    ),
    ("pregnancy mein baby ki harkat kam ho gayi hai", "hi", E, "reduced_fetal_movement"),
    ("गर्भवती हूं और खून बह रहा है", "hi", E, "pregnancy_bleeding"),
    ("pregnant hoon, bukhar hai aur bistar se uth nahi pa rahi", "hi", E, "pregnancy_fever_weak"),
    # --- someone not breathing: category not_breathing (CPR for the person's age)
    ("my baby is not breathing", "en", E, "not_breathing"),
    ("he's stopped breathing, no pulse", "en", E, "not_breathing"),
    ("she turned blue and went limp", "en", E, "not_breathing"),
    ("newborn not breathing properly", "en", E, "not_breathing"),
    ("the pikin no dey breathe again", "en", E, "not_breathing"),
    ("mi bebé no respira", "es", E, "not_breathing"),
    ("dejó de respirar y no tiene pulso", "es", E, "not_breathing"),
    ("se puso morado y flácido", "es", E, "not_breathing"),
    ("meu filho parou de respirar", "pt", E, "not_breathing"),
    ("ela não está respirando", "pt", E, "not_breathing"),
    ("o bebê ficou roxo e molinho", "pt", E, "not_breathing"),
    ("il ne respire plus", "fr", E, "not_breathing"),
    ("mon bébé ne respire pas", "fr", E, "not_breathing"),
    ("il n'a plus de pouls", "fr", E, "not_breathing"),
    ("mtoto hapumui", "sw", E, "not_breathing"),
    ("ameacha kupumua", "sw", E, "not_breathing"),
    ("hana mapigo ya moyo", "sw", E, "not_breathing"),
    ("baccha saans nahi le raha", "hi", E, "not_breathing"),
    ("वो सांस नहीं ले रहे", "hi", E, "not_breathing"),
    ("nabz nahi chal rahi", "hi", E, "not_breathing"),
    # --- severe dehydration in a child: category dehydration
    ("my toddler has diarrhoea, is very sleepy and won't drink", "en", E, "dehydration"),
    ("mi hijo tiene diarrea, está decaído y no quiere tomar nada", "es", E, "dehydration"),
    ("meu filho com diarreia, muito mole e não aceita beber", "pt", E, "dehydration"),
    ("mon fils a la diarrhée, il est très mou et ne boit plus", "fr", E, "dehydration"),
    ("mtoto anaharisha, amelegea na hanywi", "sw", E, "dehydration"),
    ("bachche ko dast hai, sust hai aur paani nahi pi raha", "hi", E, "dehydration"),
    # --- wording variants (not the rule authors' phrasing)
    ("gave my son double his dose of amitriptyline", "en", E, "overdose"),
    ("nobody would miss me if i was gone", "en", E, "self_harm"),
    ("my newborn is not breathing properly and looks grey", "en", E, "not_breathing"),
    ("minha bolsa rompeu e estou de 7 meses", "pt", E, "pregnancy_waters"),
    ("maji yamepasuka na mimba ni ya miezi 7", "sw", E, "pregnancy_waters"),
    ("mjamzito ana kichwa kikali na haoni vizuri", "sw", E, "pregnancy_preeclampsia"),
    ("mtoto mchanga hapumui vizuri", "sw", E, "not_breathing"),
    ("bachcha kuch bhi nahi pi raha", "hi", E, "child_not_drinking"),
    ("bachche ko daure pad rahe hain", "hi", E, "seizure"),
    ("naani ka sugar 35 aa gaya", "hi", E, "very_low_sugar"),
]

# Passive or indirect suicidal thoughts: the self-harm rule, never the unconscious one.
PASSIVE_SUICIDAL: list[tuple[str, str]] = [
    ("everyone would be better off if I didn't wake up", "en"),
    ("I wish I could sleep and never wake up", "en"),
    ("what's the point of living anymore", "en"),
    ("honestly I just don't want to wake up tomorrow", "en"),
    ("I hope I don't wake up in the morning", "en"),
    ("I just wan die, this life no get meaning again", "en"),
    ("ojalá me durmiera y no despertara nunca", "es"),
    ("todos estarían mejor si yo no despertara", "es"),
    ("para qué seguir viviendo", "es"),
    ("queria dormir e não acordar nunca mais", "pt"),
    ("de que adianta viver", "pt"),
    ("todo mundo ficaria melhor se eu não acordasse", "pt"),
    ("j'aimerais m'endormir et ne jamais me réveiller", "fr"),
    ("à quoi bon vivre", "fr"),
    ("tout le monde serait mieux si je ne me réveillais pas", "fr"),
    ("nataka kufa", "sw"),
    ("natamani nilale nisiamke", "sw"),
    ("kuishi kuna faida gani", "sw"),
    ("jeene ka mann nahi karta", "hi"),
    ("kaash main so jaun aur kabhi na uthun", "hi"),
    ("jeene ka kya fayda", "hi"),
    ("सब मेरे बिना खुश रहेंगे", "hi"),
]

# (message, language, highest acceptable level)
NEGATIVE: list[tuple[str, str, str]] = [
    ("my BP was 120/80", "en", "routine"),
    ("bp 135/85 today, is that ok?", "en", "routine"),
    ("SpO2 98%", "en", "self_care"),
    ("oxygen 97 on the oximeter, just checking", "en", "self_care"),
    ("sugar 110 fasting", "en", "routine"),
    ("glucose 5.6 mmol this morning", "en", "routine"),
    ("took 2 paracetamol for my headache", "en", "self_care"),
    ("my 5 year old has a temp of 38", "en", "self_care"),
    ("had surgery 3 years ago, now I have a cold", "en", "self_care"),
    ("I wake up at night to pee", "en", "routine"),
    ("I wish I could sleep more, I wake up tired every day", "en", "self_care"),
    ("I wish I didn't wake up so early every day", "en", "self_care"),
    ("it'd be easier if I didn't wake up the baby", "en", "self_care"),
    ("whats the point of living in London if you cant afford it", "en", "self_care"),
    ("nobody will miss me at the party lol", "en", "self_care"),
    ("took 400 mg ibuprofen for my knee", "en", "self_care"),
    ("I take insulin twice a day", "en", "routine"),
    ("I took extra insulin for the cake", "en", "routine"),
    ("sugar 15 mmol after dinner", "en", "urgent"),
    ("glucose 25 gram sachet", "en", "urgent"),
    ("had my knee operation 2 years ago, now a bad cold", "en", "self_care"),
    ("mi presión es 120/80", "es", "routine"),
    ("saturación 97%", "es", "self_care"),
    ("glucosa 100 en ayunas", "es", "routine"),
    ("tomé 2 paracetamol", "es", "self_care"),
    ("tomo insulina dos veces al día", "es", "routine"),
    ("para que la vida sea mejor hay que comer bien", "es", "self_care"),
    ("pressão 12 por 8", "pt", "routine"),
    ("saturação 98", "pt", "self_care"),
    ("glicemia 90 em jejum", "pt", "routine"),
    ("pra que a vida seja melhor", "pt", "self_care"),
    ("tension 12/8", "fr", "routine"),
    ("saturation 98 %", "fr", "self_care"),
    ("glycémie 1,05 g/l à jeun", "fr", "routine"),
    ("pourquoi continuer ce traitement", "fr", "routine"),
    ("presha 120/80", "sw", "routine"),
    ("oksijeni 98", "sw", "self_care"),
    ("sioni vizuri bila miwani", "sw", "routine"),
    ("natumia insulini mara mbili kwa siku", "sw", "routine"),
    ("bp 120/80 hai", "hi", "routine"),
    ("sugar 110 hai khali pet", "hi", "routine"),
    ("oxygen 98 hai", "hi", "self_care"),
    ("insulin din mein do baar lagata hoon", "hi", "routine"),
]

# Someone who can text about their own breathing is breathing: no CPR instructions for them.
NOT_CPR: list[tuple[str, str]] = [
    ("I can't breathe properly", "en"),
    ("mujhe saans nahi aa rahi", "hi"),
    ("no puedo respirar bien", "es"),
    ("siwezi kupumua vizuri", "sw"),
]

# Not an arrest either: nose breathing in a blocked-up baby, sleep pauses, a pulse oximeter.
CPR_LOOKALIKES: list[tuple[str, str]] = [
    ("my husband stopped breathing in his sleep for a few seconds", "en"),
    ("no pulse oximeter at home", "en"),
    ("I can't feel a pulse in my foot", "en"),
    ("mi bebé casi no respira por la nariz, está muy congestionado", "es"),
    ("meu bebê mal respira pelo nariz de tanto catarro", "pt"),
    ("il respire plus vite que d'habitude", "fr"),
    ("pumzi imeisha baada ya kukimbia", "sw"),
]


def _rank(level: str) -> int:
    return TriageLevel(level).rank


@pytest.mark.parametrize(("text", "lang", "minimum", "expected"), POSITIVE)
def test_combination_fires(text: str, lang: str, minimum: str, expected: str) -> None:
    result = assess(text)
    found = set(result.rule_ids) | set(result.categories)
    assert expected in found, (lang, text, result.rule_ids)
    assert result.level.rank >= _rank(minimum), (lang, text, result.level, result.rule_ids)


@pytest.mark.parametrize(("text", "lang"), PASSIVE_SUICIDAL)
def test_passive_suicidal_thoughts_get_the_crisis_rule(text: str, lang: str) -> None:
    result = assess(text)
    assert "self_harm" in result.rule_ids, (lang, text, result.rule_ids)
    assert result.self_harm and result.is_emergency
    assert "unresponsive" not in result.rule_ids, (lang, text, result.rule_ids)
    assert "not_breathing" not in result.categories, (lang, text)


@pytest.mark.parametrize(("text", "lang", "maximum"), NEGATIVE)
def test_normal_readings_do_not_escalate(text: str, lang: str, maximum: str) -> None:
    result = assess(text)
    assert result.level.rank <= _rank(maximum), (lang, text, result.level, result.rule_ids)


@pytest.mark.parametrize(("text", "lang"), NOT_CPR)
def test_own_breathing_trouble_is_not_an_arrest(text: str, lang: str) -> None:
    result = assess(text)
    assert result.is_emergency, (lang, text)
    assert "not_breathing" not in result.categories, (lang, text, result.rule_ids)


@pytest.mark.parametrize(("text", "lang"), CPR_LOOKALIKES)
def test_cpr_look_alikes_are_not_arrests(text: str, lang: str) -> None:
    result = assess(text)
    assert "not_breathing" not in result.categories, (lang, text, result.rule_ids)


def test_table_covers_every_language() -> None:
    langs = {lang for _, lang, _, _ in POSITIVE}
    assert langs == {"en", "es", "pt", "fr", "sw", "hi"}
    assert {lang for _, lang in PASSIVE_SUICIDAL} == langs


def test_new_categories_are_used() -> None:
    """The emergency texts key CPR and pregnancy steps on these category names."""
    used = {rule.category for rule in load_rules().rules.values()}
    for name in ("not_breathing", "pregnancy_waters", "pregnancy_bleeding", "dehydration"):
        assert name in used, name
    assert load_rules().rules["not_breathing"].level is TriageLevel.EMERGENCY
