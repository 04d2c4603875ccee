import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Everything imported so far (Django, the apps, URL patterns, templates' code) lives as long as
# the process: keep it out of the collector's generations, so a full collection during a
# request walks only what requests allocated (shorter pauses at the tail of the latencies).
gc.freeze()
