"""Every customer-facing string of the portal and the survey pages has an Arabic and a Malay
translation (a new string without them fails here, not in front of a customer)."""

from tests.i18n.catalogue import load_catalogue, messages_of, untranslated

SOURCES = [
    "rewards/templates/rewards/portal/*.html",
    "rewards/templates/rewards/email/*.txt",
    "surveys/templates/surveys/*.html",
    "rewards/activity.py",
    "rewards/views.py",
    "rewards/errors.py",
    "rewards/forms.py",
    "rewards/referrals.py",
    "surveys/views.py",
    "surveys/answering.py",
]
# Django merges the catalogues of all apps; these two hold the customer-facing strings.
APPS = ("rewards", "surveys")


def test_the_extractor_sees_templates_plurals_and_python():
    messages = messages_of(SOURCES)

    assert ("Your points", None, None) in messages
    assert ("%(n)s point to go", "%(n)s points to go", None) in messages
    assert ("Progress to %(tier)s", None, None) in messages
    assert ("Purchase of %(amount)s", None, None) in messages
    assert ("History", None, "portal tab") in messages
    assert ("Please answer this question.", None, None) in messages


def test_every_customer_facing_string_has_arabic_and_malay():
    catalogues = {language: [load_catalogue(app, language) for app in APPS] for language in ("ar", "ms")}

    missing = untranslated(messages_of(SOURCES), catalogues)

    assert missing == []


def test_the_arabic_catalogues_declare_six_plural_forms():
    for app in APPS:
        assert load_catalogue(app, "ar").num_plurals == 6
