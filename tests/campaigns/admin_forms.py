"""Read an admin change form as a browser would submit it: every named input, select and
textarea of the page's main form with the values it shows (what "a form left open" holds)."""

from html.parser import HTMLParser


class FormData(HTMLParser):
    def __init__(self, html, form_id):
        super().__init__(convert_charrefs=True)
        self.form_id, self.inside, self.data = form_id, False, []
        self._select = self._textarea = None
        self._first_option = None
        self._selected = self._multiple = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        if not self.inside:
            return
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button", "file"):
            if attrs.get("type") in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.data.append((name, attrs.get("value", "on")))
            else:
                self.data.append((name, attrs.get("value", "")))
        elif tag == "select" and name:
            self._select, self._first_option, self._selected = name, None, False
            self._multiple = "multiple" in attrs
        elif tag == "option" and self._select:
            value = attrs.get("value", "")
            if self._first_option is None:
                self._first_option = value
            if "selected" in attrs:
                self.data.append((self._select, value))
                self._selected = True
        elif tag == "textarea" and name:
            self._textarea = [name, ""]

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select:
            # A single select without a selected option submits its first option.
            if not self._selected and self._first_option is not None and not self._multiple:
                self.data.append((self._select, self._first_option))
            self._select = None
        elif tag == "textarea" and self._textarea:
            # Browsers drop the newline that follows <textarea>.
            self.data.append((self._textarea[0], self._textarea[1].removeprefix("\n")))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data


def form_data(html, form_id="campaign_form"):
    """{name: value or [values]} of the form `form_id` in `html`, ready for client.post."""
    result = {}
    for name, value in FormData(html, form_id).data:
        if name in result:
            result[name] = [*(result[name] if isinstance(result[name], list) else [result[name]]), value]
        else:
            result[name] = value
    return result
