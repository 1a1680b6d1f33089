"""Free texts about a customer (case notes, follow-ups, merge and card reasons) as vault fields ``note.<n>``."""

from server.customers.models import NoteId
from server.vault import store

PREFIX = "note."


def field(number):
    """The vault field name of note ``number``."""
    return "%s%d" % (PREFIX, number)


def write(customer, text, actor, purpose):
    """Seal ``text`` into ``customer``'s vault under a new note number and return it (None for no text)."""
    if not text:
        return None
    number = NoteId.create().id
    store.put(customer, {field(number): text}, actor, purpose)
    return number


def of(fields):
    """``{number: text}`` of the notes among vault ``fields`` (a store.get result)."""
    return {int(name[len(PREFIX):]): text for name, text in fields.items() if name.startswith(PREFIX)}
