"""Creating surveys with the standard questions of their kind, in English, Arabic and Malay.

The texts are stored on the Question rows (the admin edits all three), so these defaults are
plain strings, not gettext: they are a starting point, owned by the program afterwards.
"""

from django.db import transaction

from surveys.models import Question, Survey

SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}

PRIMARY_TEXTS = {
    "nps": {
        "en": "How likely are you to recommend {program} to a friend or colleague?",
        "ar": "ما مدى احتمال أن توصي بـ {program} لصديق أو زميل؟",
        "ms": "Sejauh manakah anda akan mengesyorkan {program} kepada rakan atau rakan sekerja?",
    },
    "csat": {
        "en": "How satisfied are you with {program}?",
        "ar": "ما مدى رضاك عن {program}؟",
        "ms": "Sejauh manakah anda berpuas hati dengan {program}?",
    },
    "ces": {
        "en": "{program} made it easy for me to handle my issue.",
        "ar": "سهّلت {program} عليّ معالجة مشكلتي.",
        "ms": "{program} memudahkan saya menyelesaikan urusan saya.",
    },
}
LABELS = {
    "nps": (
        {"en": "Not at all likely", "ar": "غير محتمل على الإطلاق", "ms": "Langsung tidak mungkin"},
        {"en": "Extremely likely", "ar": "محتمل جدًا", "ms": "Sangat mungkin"},
    ),
    "csat": (
        {"en": "Very dissatisfied", "ar": "غير راضٍ إطلاقًا", "ms": "Sangat tidak berpuas hati"},
        {"en": "Very satisfied", "ar": "راضٍ جدًا", "ms": "Sangat berpuas hati"},
    ),
    "ces": (
        {"en": "Strongly disagree", "ar": "لا أوافق بشدة", "ms": "Sangat tidak setuju"},
        {"en": "Strongly agree", "ar": "أوافق بشدة", "ms": "Sangat setuju"},
    ),
}
WHY_TEXT = {
    "en": "What is the main reason for your score?",
    "ar": "ما السبب الرئيسي لتقييمك؟",
    "ms": "Apakah sebab utama skor anda?",
}

# The follow-up by score band (Survey.followup_texts): ask a detractor what went wrong, a
# passive what is missing, a promoter what they like most.
BAND_TEXTS = {
    "detractor": {
        "en": "We are sorry to hear that. What should we fix first?",
        "ar": "يؤسفنا سماع ذلك. ما الذي يجب أن نصلحه أولًا؟",
        "ms": "Kami kesal mendengarnya. Apakah yang patut kami perbaiki dahulu?",
    },
    "passive": {
        "en": "What would make us a 10 for you?",
        "ar": "ما الذي يجعل تقييمك لنا 10؟",
        "ms": "Apakah yang akan menjadikan kami 10 bagi anda?",
    },
    "promoter": {
        "en": "Great to hear! What do you like most?",
        "ar": "يسعدنا ذلك! ما أكثر ما يعجبك؟",
        "ms": "Gembira mendengarnya! Apakah yang paling anda suka?",
    },
}


@transaction.atomic
def create_survey(*, program, name, kind=Survey.Kind.NPS, with_why=True, **settings):
    """Create a survey and its standard questions (the scale, then the "why?" follow-up,
    whose text depends on the score band: BAND_TEXTS unless `followup_texts` is given).

    `settings` are Survey fields (channels, link_validity_days, reminder_delay_hours...).
    A custom survey starts with no questions; add them in the admin or with add_question.
    """
    if kind in SCALES and with_why:
        settings.setdefault("followup_texts", BAND_TEXTS)
    survey = Survey.objects.create(program=program, name=name, kind=kind, **settings)
    if kind in SCALES:
        low, high = SCALES[kind]
        texts = {lang: text.format(program=program.name) for lang, text in PRIMARY_TEXTS[kind].items()}
        low_labels, high_labels = LABELS[kind]
        add_question(
            survey,
            Question.Type.RATING,
            texts,
            required=True,
            scale_min=low,
            scale_max=high,
            **{f"low_label_{lang}": text for lang, text in low_labels.items()},
            **{f"high_label_{lang}": text for lang, text in high_labels.items()},
        )
        if with_why:
            add_question(survey, Question.Type.TEXT, WHY_TEXT, is_followup=True)
    return survey


def add_question(survey, type, texts, **fields):
    """Append a question; `texts` maps en/ar/ms to its text (all three required)."""
    position = survey.questions.count()
    return Question.objects.create(
        survey=survey,
        type=type,
        position=position,
        text_en=texts["en"],
        text_ar=texts["ar"],
        text_ms=texts["ms"],
        **fields,
    )
