"""Answer pages: placeholder until the forms land."""

from django.http import HttpResponse


def answer_page(request, token):
    return HttpResponse("")


def thanks_page(request, token):
    return HttpResponse("")
